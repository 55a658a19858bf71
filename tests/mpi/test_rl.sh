#!/usr/bin/env bash
# Reinforcement learning (objective ppo, trainer/obj_ppo.c) on CartPole,
# small and short - the mechanics, not the quality: 1 and 2 ranks with the
# same global environments give the same parameters (to summation order);
# a run resumed mid-epoch on 2 ranks equals the uninterrupted one bit for
# bit (parameters, Adam state, environments, episode records); the metrics
# carry the episode figures; `axon play` runs the checkpoint's policy;
# bad configs and options are clear errors with exit 2.
source "$(dirname "$0")/lib.sh"
cfg="$WORK/cp.yaml"
sed -e 's/units: 64/units: 16/' -e 's/envs: 8/envs: 4/' -e 's/rollout: 128/rollout: 32/' \
    -e 's/iterations: 61/iterations: 3/' -e 's/epochs: 8/epochs: 2/' \
    configs/cartpole_ppo.yaml >"$cfg"
[ "$(grep -cE 'units: 16|envs: 4|rollout: 32|iterations: 3|epochs: 2' "$cfg")" -eq 8 ] \
  || fail "editing the config"
run() { # NP DIR args... : a run checkpointing into $WORK/DIR
  local np="$1" d="$2"; shift 2
  axon_np "$np" train "$cfg" --quiet --set checkpoint.dir="$WORK/$d" \
    --set logging.metrics="$WORK/$d/metrics.jsonl" "$@" >"$WORK/$d.out" 2>&1 \
    || { cat "$WORK/$d.out" >&2; fail "run $d: $*"; }
}

# --- rank count: the same environments, the same training ---------------
run 1 one
run 2 two
"$CMP" "$WORK/one/last.ckpt" "$WORK/two/last.ckpt" --tol 1e-4 >/dev/null \
  || fail "1 and 2 ranks trained different parameters"
ok "1 and 2 ranks: the same parameters to summation order"
# ... and a different seed does train different ones (the check can fail)
run 1 seed2 --set training.seed=2
! "$CMP" "$WORK/one/last.ckpt" "$WORK/seed2/last.ckpt" --tol 1e-4 >/dev/null 2>&1 \
  || fail "another seed gave the same parameters"

# --- resume is exact -------------------------------------------------------
run 2 part --set training.max_steps=4
run 2 part --resume "$WORK/part/last.ckpt"
"$CMP" "$WORK/two/last.ckpt" "$WORK/part/last.ckpt" --exact >/dev/null \
  || fail "a resumed run differs from the uninterrupted one"
ok "resumed mid-epoch on 2 ranks: bit-identical to the uninterrupted run"

# --- metrics and play ------------------------------------------------------
grep -q '"return100":' "$WORK/two/metrics.jsonl" && grep -q '"episodes":' "$WORK/two/metrics.jsonl" \
  || fail "metrics lack the episode figures"
[ "$(wc -l <"$WORK/two/metrics.jsonl")" -eq 2 ] || fail "one record per epoch"
out="$("$AXON" play --checkpoint "$WORK/two/last.ckpt" --episodes 2 --render)" \
  || fail "play"
[ "$(grep -c '^episode [12]: return' <<<"$out")" -eq 2 ] && grep -q '\[##\]' <<<"$out" \
  || { echo "$out" >&2; fail "play's output"; }
ok "metrics carry the episodes; axon play runs and renders the policy"

# --- bad input -------------------------------------------------------------
expect_exit 2 "rl.env: unknown environment 'pendulum' \(known: cartpole, mountaincar\)" \
  1 train "$cfg" --set rl.env=pendulum
expect_exit 2 "policy gives 3 values per observation; environment cartpole has 2 actions" \
  2 train "$cfg" --set rl.policy.layers.4.units=3
expect_exit 2 "rl.minibatches: 5 does not divide" 1 train "$cfg" --set rl.minibatches=5
expect_exit 2 "rl.envs: 4 environments for 5 ranks" 5 train "$cfg"
expect_exit 2 "data: not used with an rl section" 1 train "$cfg" --set data.format=idx
expect_exit 2 "train it with .axon train." 1 eval "$cfg" --checkpoint "$WORK/two/last.ckpt"
expect_exit 2 "--episodes: '-1' must be a whole number" 1 play --checkpoint "$WORK/two/last.ckpt" --episodes -1
expect_exit 3 "checkpoint is for a different model" 1 train "$cfg" --quiet \
  --set rl.value.layers.0.units=8 --set checkpoint.dir="$WORK/v8" --resume "$WORK/two/last.ckpt"
