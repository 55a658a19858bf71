#!/usr/bin/python3
"""ppo_torch.py - a PyTorch PPO on CartPole-v1 with the hyper-parameters
of configs/cartpole_ppo.yaml, for the wall time to solve against axon
(docs/RL.md). One process, torch threads as given.

    /usr/bin/python3 scripts/ppo_torch.py [--seed S] [--threads T] [--steps N]

Same algorithm as trainer/obj_ppo.c: 8 environments x 128 steps per
iteration, GAE(0.99, 0.95) with the value of the final observation added
at a time-limit end, 4 passes of 4 minibatches, advantages normalised per
minibatch, clipped surrogate (0.2) minus 0.01 x entropy, value loss
0.5 (V - R)^2, separate 4-64-64 tanh policy and value networks, Adam
(lr 2.5e-4, eps 1e-5) each, gradient norm clipped at 0.5 per network.
CartPole's equations as in envs/cartpole.c (Euler, +1 per step including
the terminal one, 500-step limit). Prints the line `solved: ... after N
environment steps (S s)` when the mean return of the last 100 episodes
first reaches 475, and stops there (or after --steps environment steps).
"""
import argparse
import collections
import math
import random
import time

import torch
import torch.nn as nn


class CartPole:
    def __init__(self, rng):
        self.rng = rng
        self.reset()

    def reset(self):
        self.s = [self.rng.uniform(-0.05, 0.05) for _ in range(4)]
        self.t = 0
        return list(self.s)

    def step(self, a):
        x, xd, th, thd = self.s
        f = 10.0 if a == 1 else -10.0
        c, sn = math.cos(th), math.sin(th)
        temp = (f + 0.05 * thd * thd * sn) / 1.1
        thacc = (9.8 * sn - c * temp) / (0.5 * (4.0 / 3.0 - 0.1 * c * c / 1.1))
        xacc = temp - 0.05 * thacc * c / 1.1
        self.s = [x + 0.02 * xd, xd + 0.02 * xacc, th + 0.02 * thd, thd + 0.02 * thacc]
        self.t += 1
        fell = abs(self.s[0]) > 2.4 or abs(self.s[2]) > 12 * 2 * math.pi / 360
        return list(self.s), 1.0, 1 if fell else (2 if self.t >= 500 else 0)


def mlp(out):
    return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(),
                         nn.Linear(64, out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=500_000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    E, T, K, MB, gamma, lam, clip, ent = 8, 128, 4, 4, 0.99, 0.95, 0.2, 0.01
    envs = [CartPole(rng) for _ in range(E)]
    obs = torch.tensor([e.reset() for e in envs], dtype=torch.float32)
    pi, v = mlp(2), mlp(1)
    opt_pi = torch.optim.Adam(pi.parameters(), lr=2.5e-4, eps=1e-5)
    opt_v = torch.optim.Adam(v.parameters(), lr=2.5e-4, eps=1e-5)
    rets, run_ret = collections.deque(maxlen=100), [0.0] * E
    steps, t0 = 0, time.time()
    while steps < a.steps:
        X = torch.zeros(T, E, 4); A = torch.zeros(T, E, dtype=torch.long)
        LP = torch.zeros(T, E); V = torch.zeros(T, E); R = torch.zeros(T, E)
        D = torch.zeros(T, E)
        with torch.no_grad():
            for t in range(T):
                dist = torch.distributions.Categorical(logits=pi(obs))
                act = dist.sample()
                X[t], A[t], LP[t], V[t] = obs, act, dist.log_prob(act), v(obs).squeeze(1)
                nxt = []
                for i, e in enumerate(envs):
                    o, r, done = e.step(int(act[i]))
                    run_ret[i] += r
                    if done == 2:
                        r += gamma * float(v(torch.tensor([o], dtype=torch.float32)))
                    if done:
                        rets.append(run_ret[i]); run_ret[i] = 0.0
                        o = e.reset()
                    R[t, i], D[t, i] = r, float(done != 0)
                    nxt.append(o)
                obs = torch.tensor(nxt, dtype=torch.float32)
            steps += E * T
            adv = torch.zeros(T, E); gae = torch.zeros(E); nv = v(obs).squeeze(1)
            for t in reversed(range(T)):
                keep = 1.0 - D[t]
                delta = R[t] + gamma * nv * keep - V[t]
                gae = delta + gamma * lam * keep * gae
                adv[t] = gae; nv = V[t]
            ret = adv + V
        bx, ba, blp = X.reshape(-1, 4), A.reshape(-1), LP.reshape(-1)
        badv, bret = adv.reshape(-1), ret.reshape(-1)
        N, M = E * T, E * T // MB
        for _ in range(K):
            perm = torch.randperm(N)
            for m in range(MB):
                idx = perm[m * M:(m + 1) * M]
                ad = badv[idx]; ad = (ad - ad.mean()) / (ad.std(unbiased=False) + 1e-8)
                dist = torch.distributions.Categorical(logits=pi(bx[idx]))
                r = torch.exp(dist.log_prob(ba[idx]) - blp[idx])
                loss = -torch.min(r * ad, torch.clamp(r, 1 - clip, 1 + clip) * ad).mean() \
                    - ent * dist.entropy().mean()
                opt_pi.zero_grad(); loss.backward()
                nn.utils.clip_grad_norm_(pi.parameters(), 0.5); opt_pi.step()
                vl = 0.5 * ((v(bx[idx]).squeeze(1) - bret[idx]) ** 2).mean()
                opt_v.zero_grad(); vl.backward()
                nn.utils.clip_grad_norm_(v.parameters(), 0.5); opt_v.step()
        if len(rets) == 100 and sum(rets) / 100 >= 475:
            print("solved: mean return %.1f over the last 100 episodes after %d "
                  "environment steps (%.1fs)" % (sum(rets) / 100, steps, time.time() - t0))
            return
    print("not solved after %d environment steps (%.1fs); mean return %.1f"
          % (steps, time.time() - t0, sum(rets) / max(len(rets), 1)))


if __name__ == "__main__":
    main()
