"""Every tuning constant of the placement pipeline, in one frozen dataclass.

Owns: the numbers that decide how the search spends its time and how large its models may get
(shares of the time limit, wall-time estimates per pair, neighbourhood sizes, pass counts,
numeric margins). Each field says what it means; why it has its value (the measurements) is in
the commit history and bench/. Modules read the shared instance `TUNING`.

Must not: hold problem data or anything that changes the objective's meaning (the weights are
`placement.Weights`, the input limits are in placement.validation).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tuning:
    # --- the time budget (placement.budget) -------------------------------------------------------
    #: share of the time limit kept for the bound and the result
    reserve_share: float = 0.06
    #: wall seconds of the result (scoring, explanations, Lagrangian bound) per workload, kept at the end
    result_s_per_workload: float = 2.5e-4
    #: every solve returns within (1 + late_share) x its limit + late_s (the SolverConfig contract)
    late_share: float = 0.1
    late_s: float = 0.05
    #: wall seconds kept for the result after the last stage that may run past the limit
    result_s: float = 0.03
    #: a CP-SAT pass starts only with this much wall time left before the contract's end
    min_pass_s: float = 0.02
    #: CP-SAT's deterministic seconds per wall second of a time limit (reached first even on loaded cores)
    dtime_per_s: float = 0.15

    # --- wall-time estimates, so stages that cannot finish do not start ---------------------------
    #: late stages' estimates are scaled by how much slower than estimated the baselines ran, at most this much
    max_slowness: float = 2.0
    #: wall seconds of one greedy start per (workload, node) pair
    greedy_s_per_pair: float = 1.5e-6
    #: wall seconds of one step of the Lagrangian bound per workload (kept for half its steps where no LP ran)
    bound_s_per_step_workload: float = 1.5e-6
    #: wall seconds of all four baselines per (workload, node) pair
    baseline_s_per_pair: float = 2.5e-6
    #: the baselines are starts when they take at most this share of the limit, else a floor at the end
    baseline_share: float = 0.25
    #: wall seconds of the LP's set-up and first solve per pair
    lp_s_per_pair: float = 4e-6
    #: wall seconds of one LP rounding per pair
    round_s_per_pair: float = 1.5e-6
    #: wall seconds of one pass of swaps, moves and ejections per replica
    swap_s_per_replica: float = 1e-4
    #: wall seconds to build a CP-SAT model per (workload, node) pair
    build_s_per_pair: float = 2e-5

    # --- which recipe, and which stages of it run ---------------------------------------------------
    #: pairs: up to this many, a cold solve is a small model (exact CP-SAT); re-placement never prunes
    small_model_pairs: int = 4_000
    #: pairs: above this, on a limit too short for the second CP-SAT pass, no quick CP-SAT try either
    quick_pairs: int = 1_000
    #: small models: the LP and a second CP-SAT pass only when the limit leaves this many seconds
    second_pass_min_s: float = 0.2
    #: large models: up to this many workloads, the LP is rounded twice (two notions of a big workload)
    two_roundings_max_workloads: int = 3_000

    # --- small models ------------------------------------------------------------------------------
    #: the quick CP-SAT try's share of the time limit (proves tiny instances such as online batches)
    quick_share: float = 0.1
    #: share of the time limit the LP (and its rounding) may take
    lp_share_small: float = 0.5
    #: the second pass: CP-SAT's deterministic seconds per second of its share of the limit (one worker)
    pass_dtime_per_s: float = 0.3
    #: and the share of that budget the passes keep after the placement-first model ran
    after_fill_share: float = 0.6
    #: greedy starts: rounds of retrying with the left-out workloads first
    start_repair_rounds: int = 4
    #: subgradient steps of the Lagrangian bound after a cold small solve
    cold_bound_steps: int = 80

    # --- large models ------------------------------------------------------------------------------
    #: most of the time limit the LP (all pricing rounds) may take
    lp_share_large: float = 0.6
    #: the LP runs if its first solve's estimate fits, or at least this many seconds are left
    lp_min_s: float = 0.5

    # --- the placement-first model (a placeable workload left out) ---------------------------------
    #: its deterministic seconds per second of the limit
    placement_first_dtime: float = 0.025
    #: and at least this many (its fixed cost is paid anyway)
    placement_first_min_dtime: float = 0.05
    #: it runs only if building it takes at most this share of the limit
    placement_first_build_share: float = 0.25

    # --- re-placement (placement.replace) ----------------------------------------------------------
    #: (workload, node) pairs of the pruned model, at most
    replace_max_pairs: int = 60_000
    #: candidate nodes kept per freed workload when pruning, at least and at most
    replace_min_nodes: int = 6
    replace_max_nodes: int = 12
    #: sites kept per freed workload when pruning, at least
    replace_min_sites: int = 2
    #: re-placement also frees up to this share of the workloads that could gain by moving
    improvable_share: float = 0.05
    #: share of the time limit (in deterministic time) for the re-placement's CP-SAT
    replace_dtime_share: float = 0.05
    #: and at most this share of it in wall time
    replace_wall_share: float = 0.08
    #: rounds of freeing the fixed workloads in a left-out workload's way
    restore_passes: int = 3
    #: the LP fallback's time, at least, as a share of the time limit
    fallback_lp_share: float = 0.5
    #: free pairs: above this, CP-SAT only if the greedy start leaves a workload out
    replace_cpsat_pairs: int = 4_000
    #: a small model's whole-model CP-SAT after the LP fallback (deterministic share of the limit)
    small_settle_share: float = 0.25
    #: subgradient steps of the Lagrangian bound after a re-placement
    replace_bound_steps: int = 20

    # --- the grouped LP (placement.lp) -------------------------------------------------------------
    #: cheapest groups per workload in the first LP
    lp_start_columns: int = 24
    #: most negative columns added per workload and pricing round
    lp_price_columns: int = 4
    #: pricing rounds
    lp_pricing_rounds: int = 3
    #: start columns per workload, at least, in a priced LP
    lp_min_columns: int = 6
    #: up to this many feasible (workload, group) pairs, no pricing at all
    lp_all_columns: int = 80_000
    #: per-pair opening links only on groups this small (where they bind)
    lp_link_nodes: int = 2
    #: and only in LPs with at most this many count columns
    lp_link_columns: int = 20_000
    #: relative margin taken off every proven bound for floating-point error
    bound_safety: float = 1e-7

    # --- LP rounding and repair (placement.rounding) -------------------------------------------------
    #: tolerance of the rounding's LP counts
    rounding_eps: float = 1e-6
    #: bonus per unit of LP count still unused in the node's group
    rounding_lp_bonus: float = 1e3
    #: a replica this large a share of a node is packed first
    rounding_big_share: float = 0.3
    #: left-out workloads the repair tries to fit
    repair_attempts: int = 20

    # --- swaps, moves and ejections (placement.swaps) ------------------------------------------------
    #: workloads x nodes, at most, for the dense matrices
    swap_max_cells: int = 2_000_000
    #: replicas, at most (the swap matrices are replicas x replicas)
    swap_max_replicas: int = 2_500
    #: passes of swaps, moves and ejections
    swap_passes: int = 4
    #: swap candidates re-checked per pass, best first
    swap_max_tries: int = 3_000
    #: swaps involve one of this many replicas that could gain most
    swap_rows: int = 400
    #: an improvement smaller than this is none
    swap_eps: float = 1e-9
    #: replicas (most to gain first) that try a move that needs others to make way
    eject_rows: int = 400
    #: their cheapest nodes tried
    eject_targets: int = 6
    #: replicas relocated to make room, at most
    eject_max: int = 3
    #: nodes tried, cheapest first, for each replica that makes room
    eject_home_tries: int = 8

    # --- CP-SAT neighbourhood search (placement.lns) -------------------------------------------------
    #: free workloads of a neighbourhood, at most
    lns_max_free: int = 160
    #: (workload, node) pairs of a neighbourhood's model, at most
    lns_max_pairs: int = 8_000
    #: deterministic seconds per neighbourhood
    lns_sub_dtime: float = 0.05
    #: what building a neighbourhood's model counts for (deterministic, not measured)
    lns_sub_overhead: float = 0.005
    #: and per (workload, node) pair of its model
    lns_pair_dtime: float = 3e-6
    #: nodes of a node neighbourhood
    lns_nodes_per_group: int = 8
    #: its first node: one of this many emptiest nodes in use
    lns_emptiest: int = 6
    #: share of the deterministic budget of the limit's first lns_first_s seconds the search may use
    lns_share: float = 0.4
    lns_first_s: float = 2.0
    #: and of the rest of the limit
    lns_later_share: float = 0.8
    #: sites of a region neighbourhood
    lns_sites_per_region: int = 6
    #: each freed workload may also use this many of its cheapest nodes anywhere
    lns_own_candidates: int = 8

    # --- pure bin packing (placement.binpack) ---------------------------------------------------------
    #: (bin subset, pool subset) checks of the bin-emptying search per second of the limit
    binpack_ops_per_s: int = 500_000
    #: what one bin's move counts for besides its checks (numpy's overhead per call)
    binpack_bin_ops: int = 40

    # --- the CP-SAT model (placement.cpsat) ----------------------------------------------------------
    #: objective coefficients are scaled by this and rounded to integers
    cpsat_scale: int = 1000
    #: CP-SAT presolve by default (passes that need it ask for it)
    cpsat_presolve: bool = False

    # --- priority bands (placement.priority) ---------------------------------------------------------
    #: share of the time limit split evenly between the bands of a solve (the rest goes by their workloads)
    band_floor_share: float = 0.2
    #: and each band's solve gets at least this many seconds
    band_min_s: float = 0.04
    #: up to this many workloads, a band first tries to leave the lower bands' running replicas where they are
    band_keep_max_workloads: int = 500


TUNING = Tuning()
