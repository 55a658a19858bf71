#!/usr/bin/env python3
"""Reference trajectories for tests/envs/test_envs.c, computed from the
equations of Gym's CartPole-v1 and MountainCar-v0 written out here
independently of envs/*.c (plain Python floats, i.e. IEEE doubles).
Prints the C arrays pasted into the test:  python3 tests/envs/reference.py
"""
import math

def cartpole(s, a):
    g, mc, mp, l, F, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x, xd, th, thd = s
    f = F if a == 1 else -F
    c, sn = math.cos(th), math.sin(th)
    temp = (f + mp * l * thd * thd * sn) / (mc + mp)
    thacc = (g * sn - c * temp) / (l * (4.0 / 3.0 - mp * c * c / (mc + mp)))
    xacc = temp - mp * l * thacc * c / (mc + mp)
    return (x + tau * xd, xd + tau * xacc, th + tau * thd, thd + tau * thacc)

def mountaincar(s, a):
    p, v = s
    v += (a - 1) * 0.001 + math.cos(3 * p) * (-0.0025)
    v = min(max(v, -0.07), 0.07)
    p = min(max(p + v, -1.2), 0.6)
    if p == -1.2 and v < 0:
        v = 0.0
    return (p, v)

def action(t, n):  # the test's fixed action sequence
    return (t * 7 + t // 5) % n

def dump(name, f, s, n_act, steps):
    print("/* %s: %d steps from (%s) */" % (name, steps, ", ".join(repr(v) for v in s)))
    print("static const double %s_ref[%d][%d] = {" % (name, steps, len(s)))
    for t in range(steps):
        s = f(s, action(t, n_act))
        print("    {%s}," % ", ".join("%.17g" % v for v in s))
    print("};")

dump("cartpole", cartpole, (0.01, -0.02, 0.03, 0.04), 2, 60)
dump("mountaincar", mountaincar, (-0.5, 0.0), 3, 120)
