"""Best-first proof search over a DAG of proof states, with several expansions in flight.

How one search runs (everything happens on the caller's event loop; no threads):

- A heap holds unexpanded nodes by priority `Σ log p / depth**alpha`. When fewer than `concurrency` expansions
  are in flight, the next *proposal* pops the best nodes to fill the free slots and asks the policy about all of
  them in one `Policy.propose` call. Only one call is in flight at a time, so every expansion that becomes ready
  while the model is busy goes into the next call together.
- Candidates are stripped, deduplicated and filtered by the banned-token policy; at most `width` per node become
  jobs in one queue. A pool of *runner* tasks (at most `env_concurrency`) takes jobs and awaits `Env.run_tac`.
  A runner with no queued run makes the due proposal, inline; idle runners are woken through a deferred
  callback (`loop.call_soon`) that runs only once the current runner yields, so a zero-cost environment and policy
  are driven by one runner with no task switch at all, while a slow environment gets a runner per queued job.
- Each result becomes an edge of the `SearchTree`, which keeps node status (OPEN/PROVED/FAILED) and propagates it.
- Resumed prefixes (`grafts`, a `PrefixChannel` fed by the whole-proof route) are grafted into the tree while it
  runs, as paths of real states from the root (`SearchTree.graft`); their new nodes join the heap with the priority
  the channel gives, so the tactic side continues from the deepest Lean-accepted step of a failed whole proof.
- The search stops on an accepted proof, a FAILED root, an empty heap with nothing in flight, a cap, the deadline,
  or an exception from the environment, policy or hook. The deadline is a timer on the loop, and is also checked
  after every run and proposal, since a search whose environment never suspends would not let the timer fire.
  In-flight tactic runs and model calls are then cancelled; verifier-hook calls already started are awaited, so a
  proof Lean finished before the stop is still checked and kept.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from search.config import SearchConfig
from search.errors import SearchError, UsageError
from search.goal_split import GoalFocus, splittable
from search.outcomes import ProofFinished, TacticResult, TacticState
from search.proofs import PrefixChannel
from search.protocols import Candidate, Env, Policy, PolicyRequest, request_seed
from search.result import SearchProgress, SearchResult, SearchStats, StopReason, path_steps
from search.tree import FAILED, PROVED, SECONDS, TACTIC, EdgeOutcome, SearchTree

logger = logging.getLogger(__name__)

Accept = Callable[[tuple[str, ...]], Awaitable[bool]]
"""The verifier hook: given a whole proof (one tactic per entry), True to accept it."""

ProgressCallback = Callable[[SearchProgress], None]

_BANNED_CACHE_LIMIT = 100_000
_YIELD_EVERY = 256  # a runner that never suspends still yields to the loop after this many steps


async def search(
    env: Env,
    policy: Policy,
    root: TacticState,
    config: SearchConfig,
    *,
    theorem_name: str = "",
    deadline: float | None = None,
    accept: Accept | None = None,
    on_progress: ProgressCallback | None = None,
    attempt: int = 0,
    focus: GoalFocus | None = None,
    grafts: PrefixChannel | None = None,
) -> SearchResult:
    """Search for a proof of `root` within `config`'s budget.

    Args:
        env: runs tactics (Lean, or a synthetic space in tests).
        policy: proposes tactics with log-probs.
        root: the state to prove, as the environment gave it.
        config: search settings; `config.attempts` is ignored here (see `search_attempts`).
        theorem_name: passed to the policy in each request.
        deadline: absolute `time.monotonic()` bound; the search stops at the sooner of it and `budget_s` from now.
        accept: verifier hook called with the whole proof when Lean reports `ProofFinished`; only a proof it
            accepts (returns True) ends the search, a rejected one counts as a failed tactic (`rejected`) and the
            search goes on. None accepts every `ProofFinished`.
        on_progress: called with a `SearchProgress` at most every `config.progress_interval_s` and once at the end.
        attempt: the attempt index recorded in the result and progress.
        focus: splits states whose goals share no metavariable into one subproblem per goal (AND nodes,
            `search.goal_split`); the proof then combines the goals' proofs with `·` and `accept` is asked about
            that combined proof only (a goal's own `ProofFinished` is not a proof of the theorem). None: no split.
        grafts: a channel of resumed prefixes to graft into the tree while the search runs.

    Returns:
        A frozen `SearchResult`. Faults of the environment, policy or hook do not raise: they end the search with
        status ERROR and are kept in `result.exception`.

    Raises:
        UsageError: `root` is not a `TacticState`.
        SearchError: the environment or policy broke its protocol (a result that is not a `TacticResult`, a wrong
            number of candidate lists).

    Examples:
        >>> import asyncio
        >>> from search.testing import SyntheticEnv, ScriptedPolicy, chain_space
        >>> space = chain_space(3)
        >>> env = SyntheticEnv(space)
        >>> result = asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), SearchConfig(budget_s=5)))
        >>> result.proof
        ('step 0', 'step 1', 'step 2', 'qed')
    """
    if not isinstance(root, TacticState):
        raise UsageError(f"the root must be a TacticState, got {type(root).__name__}")
    run = _Search(env, policy, root, config, theorem_name, deadline, accept, on_progress, attempt, focus)
    if grafts is None:
        return await run.run()
    grafts.connect(run.graft)
    try:
        return await run.run()
    finally:
        grafts.disconnect()


class _Search:
    """The state of one running search (see the module docstring)."""

    def __init__(
        self,
        env: Env,
        policy: Policy,
        root: TacticState,
        config: SearchConfig,
        theorem_name: str,
        deadline: float | None,
        accept: Accept | None,
        on_progress: ProgressCallback | None,
        attempt: int,
        focus: GoalFocus | None = None,
    ) -> None:
        self.env = env
        self.policy = policy
        self.config = config
        self.theorem_name = theorem_name
        self.accept = accept
        self.on_progress = on_progress
        self.attempt = attempt
        self.focus = focus
        self.goal_splits = 0
        self.combined: tuple[str, ...] | None = None  # the verified proof through AND nodes
        self.combining = False
        self.combined_rejected = False
        self.deadline = deadline
        self.sampling = config.sampling()
        self.tree = SearchTree(root, config.alpha)
        self.heap: list[tuple[float, int]] = [(-0.0, 0)]  # (-priority, node id); ties go to the older node
        self.jobs: deque[tuple[int, str, float]] = deque()  # (node id, tactic, log-prob)
        self.idle: list[asyncio.Future[None]] = []
        self.runners: list[asyncio.Task[None]] = []
        self.max_runners = config.runner_count()
        self.wake_pending = False
        self.propose_due = False
        self.proposing = False
        self.accept_tasks: list[asyncio.Task[None]] = []
        self.in_flight = 0
        self.stopped = False
        self.stop_reason = StopReason.EXHAUSTED
        self.fault: BaseException | None = None
        self.internal_fault: BaseException | None = None
        self.banned_cache: dict[str, bool] = {}
        # counters
        self.popped = 0  # nodes taken off the heap (what max_expansions caps)
        self.expansions = 0  # nodes whose candidates came back (a call cancelled by the stop does not count)
        self.env_calls = 0
        self.batch_sizes: dict[int, int] = {}
        self.tactics_proposed = 0
        self.tactics_duplicate = 0
        self.tactics_banned = 0
        self.tactics_empty = 0
        self.accept_calls = 0
        # wall-time accounting: busy time is the union of the intervals with a call in flight
        self.env_active = 0
        self.env_since = 0.0
        self.env_busy = 0.0
        self.ext_active = 0
        self.ext_since = 0.0
        self.ext_busy = 0.0
        self.model_busy = 0.0
        self.accept_seconds = 0.0
        self.t0 = 0.0
        self.perf_deadline = 0.0
        self.last_progress = 0.0

    # ---- driver ---------------------------------------------------------------------------------------------

    async def run(self) -> SearchResult:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.done: asyncio.Future[None] = loop.create_future()
        self.t0 = self.last_progress = time.perf_counter()
        now = time.monotonic()
        end = now + self.config.budget_s
        if self.deadline is not None:
            end = min(end, self.deadline)
        self.perf_deadline = self.t0 + (end - now)
        timer = None
        if end <= now:
            self._finish(StopReason.TIMEOUT)
        else:
            timer = loop.call_later(end - now, self._finish, StopReason.TIMEOUT)
            self._schedule()
            self._wake_soon()
        cancelled = False
        try:
            await self.done
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if timer is not None:
                timer.cancel()
            await self._teardown(cancel_hooks=cancelled)
        if self.internal_fault is not None:
            raise self.internal_fault
        result = self._result()
        if self.on_progress is not None:
            self.on_progress(self._progress())
        return result

    async def _teardown(self, cancel_hooks: bool) -> None:
        self.stopped = True
        for waiter in self.idle:
            waiter.cancel()
        tasks = [task for task in self.runners if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Verifier-hook calls that started before the stop are let finish (each is bounded by the verifier's own
        # timeout), so that a proof Lean finished in time is not thrown away; an outside cancel stops them too.
        hooks = [task for task in self.accept_tasks if not task.done()]
        if cancel_hooks:
            for task in hooks:
                task.cancel()
        if hooks:
            await asyncio.gather(*hooks, return_exceptions=True)

    def _finish(self, reason: StopReason) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.stop_reason = reason
        if not self.done.done():
            self.done.set_result(None)

    def _external_fault(self, exc: Exception, where: str) -> None:
        if self.fault is None:
            self.fault = exc
            logger.warning(
                "search of %r stopped: the %s raised %s: %s", self.theorem_name, where, type(exc).__name__, exc
            )
        self._finish(StopReason.ERROR)

    def _internal_fault(self, exc: BaseException) -> None:
        if self.internal_fault is None:
            self.internal_fault = exc
        self._finish(StopReason.ERROR)

    def _caps_reached(self) -> bool:
        config = self.config
        return (config.max_expansions is not None and self.popped >= config.max_expansions) or (
            config.max_env_calls is not None and self.env_calls >= config.max_env_calls
        )

    def _schedule(self) -> None:
        """Mark a proposal due when a slot is free and a node waits; finish when nothing is left to do.

        A runner makes a due proposal at the top of its loop; code outside the runners follows this with
        `_wake_soon()` so that an idle runner comes to make it.
        """
        if self.stopped or self.proposing or self.propose_due:
            return
        if self.in_flight < self.config.concurrency and self.heap and not self._caps_reached():
            self.propose_due = True
        elif self.in_flight == 0:
            capped = self._caps_reached() and bool(self.heap or self.tree.truncated)  # truncated: runs dropped at a cap
            self._finish(StopReason.BUDGET if capped else StopReason.EXHAUSTED)

    def _wake_soon(self) -> None:
        """Have idle runners (or new ones) take the queued jobs and a due proposal, once the current task yields."""
        if not self.wake_pending:
            self.wake_pending = True
            self.loop.call_soon(self._wake)

    def _wake(self) -> None:
        self.wake_pending = False
        if self.stopped:
            return
        wanted = len(self.jobs) + self.propose_due
        idle = self.idle
        while wanted > 0 and idle:
            waiter = idle.pop()
            if not waiter.done():
                waiter.set_result(None)
                wanted -= 1
        while wanted > 0 and len(self.runners) < self.max_runners:
            self.runners.append(self.loop.create_task(self._runner()))
            wanted -= 1

    def _past_deadline(self) -> bool:
        if time.perf_counter() >= self.perf_deadline:
            self._finish(StopReason.TIMEOUT)
            return True
        return False

    def graft(self, steps: Sequence[tuple[str, TacticState]], logprob: float) -> int:
        """Graft a path of (tactic, state) steps from the root; queue its new nodes; return how many were new, or -1
        when this search has already stopped (the prefix must then be resumed by a search of its own)."""
        if self.stopped:
            return -1
        tree = self.tree
        max_depth = self.config.max_depth
        node = added = 0
        for tactic, state in steps:
            node, created = tree.graft(node, tactic, logprob, state)
            if node < 0:
                break
            if created:
                added += 1
                if max_depth is None or tree.depth[node] < max_depth:
                    heapq.heappush(self.heap, (-tree.priority[node], node))
        if added and hasattr(self, "loop"):
            self._schedule()
            self._wake_soon()
        return added

    # ---- the model side -------------------------------------------------------------------------------------

    async def _propose(self) -> None:
        """Pop the best nodes into the free slots, ask the policy about them in one call, queue their jobs."""
        config = self.config
        heap = self.heap
        self.propose_due = False
        self.proposing = True
        room = config.concurrency - self.in_flight
        if config.max_expansions is not None:
            room = min(room, config.max_expansions - self.popped)
        batch: list[int] = []
        while heap and len(batch) < room:
            batch.append(heapq.heappop(heap)[1])
        if not batch:  # nothing fits (cannot happen while _schedule sets propose_due only with room and nodes)
            self.proposing = False
            self._schedule()
            return
        self.popped += len(batch)
        self.in_flight += len(batch)
        tree = self.tree
        states = tree.states
        name = self.theorem_name
        seed = self.sampling.seed
        requests = [
            PolicyRequest(states[node], name, tree.first_path_tactics(node), request_seed(seed, states[node]))
            for node in batch
        ]
        start = time.perf_counter()
        if not self.ext_active:
            self.ext_since = start
        self.ext_active += 1
        try:
            outputs = await self.policy.propose(requests, self.sampling)
        except Exception as exc:
            self._external_fault(exc, "policy")
            return
        finally:
            end = time.perf_counter()
            self.model_busy += end - start
            self.ext_active -= 1
            if not self.ext_active:
                self.ext_busy += end - self.ext_since
        if len(outputs) != len(batch):
            raise SearchError(f"the policy returned {len(outputs)} candidate lists for {len(batch)} requests")
        self.expansions += len(batch)
        self.batch_sizes[len(batch)] = self.batch_sizes.get(len(batch), 0) + 1
        jobs = self.jobs
        for node, candidates in zip(batch, outputs):
            planned = self._filter(node, candidates)
            tree.begin_expansion(node, len(planned))
            if planned:
                jobs.extend(planned)
            else:
                self._expansion_done(node)
        self.proposing = False
        if len(jobs) > 1:
            self._wake_soon()
        if not self._past_deadline():
            self._schedule()

    def _filter(self, node: int, candidates: Sequence[Candidate]) -> list[tuple[int, str, float]]:
        """Strip, deduplicate, drop banned and empty tactics; keep at most `width`, in the policy's order."""
        width = self.config.width
        cache = self.banned_cache
        planned: list[tuple[int, str, float]] = []
        seen: set[str] = set()
        dropped = 0
        for candidate in candidates:
            tactic = candidate.tactic.strip()
            if tactic in seen:
                self.tactics_duplicate += 1
                continue
            seen.add(tactic)
            is_banned = cache.get(tactic)
            if is_banned is None:
                is_banned = not tactic or self.config.banned.find(tactic) is not None
                if len(cache) >= _BANNED_CACHE_LIMIT:
                    cache.clear()
                cache[tactic] = is_banned
            if is_banned:
                dropped += 1
                continue
            planned.append((node, tactic, candidate.logprob))
            if len(planned) >= width:
                break
        if dropped:
            empty = "" in seen
            self.tactics_empty += empty
            self.tactics_banned += dropped - empty
        self.tactics_proposed += len(candidates)
        return planned

    # ---- the environment side -------------------------------------------------------------------------------

    async def _runner(self) -> None:
        try:
            await self._run_jobs()
        except Exception as exc:  # a bug or a protocol violation: stop, then re-raise from search()
            self._internal_fault(exc)

    async def _run_jobs(self) -> None:
        # The hot loop: one iteration per tactic run (or proposal). Shared counters live on self (several runners
        # update them); everything else is bound to locals.
        jobs = self.jobs
        run_tac = self.env.run_tac
        tree = self.tree
        states, pending, status = tree.states, tree.pending, tree.status
        depth, priority = tree.depth, tree.priority
        add_edge = tree.add_edge
        heap = self.heap
        heappush = heapq.heappush
        accept = self.accept
        timeout = self.config.tactic_timeout
        max_env_calls = self.config.max_env_calls
        max_depth = self.config.max_depth
        concurrency = self.config.concurrency
        perf_counter = time.perf_counter
        perf_deadline = self.perf_deadline
        focus = self.focus
        focused = tree.focused
        steps = 0
        while not self.stopped:
            steps += 1
            if steps % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
                continue
            if not jobs:
                # Queued runs come before a proposal, so that the nodes a proposal picks from are as complete as
                # the environment allows (and a zero-cost search batches whole heaps of siblings).
                if self.propose_due:
                    await self._propose()
                    continue
                waiter = self.loop.create_future()
                self.idle.append(waiter)
                await waiter
                continue
            node, tactic, logprob = jobs.popleft()
            if jobs and not self.wake_pending:
                self._wake_soon()
            if max_env_calls is not None and self.env_calls >= max_env_calls:
                tree.skip(node)
                if pending[node] == 0:
                    self._expansion_done(node)
                continue
            self.env_calls += 1
            start = perf_counter()
            if not self.env_active:
                self.env_since = start
            self.env_active += 1
            if not self.ext_active:
                self.ext_since = start
            self.ext_active += 1
            try:
                result = await run_tac(states[node], tactic, timeout)
            except Exception as exc:
                self._external_fault(exc, "environment")
                return
            finally:
                end = perf_counter()
                self.env_active -= 1
                if not self.env_active:
                    self.env_busy += end - self.env_since
                self.ext_active -= 1
                if not self.ext_active:
                    self.ext_busy += end - self.ext_since
            if accept is not None and result.__class__ is ProofFinished and node not in focused:
                check = self.loop.create_task(self._check(node, tactic, logprob, result, end - start))
                self.accept_tasks.append(check)
                await asyncio.shield(check)
                continue
            # What _record does, inlined for the common case.
            created = add_edge(node, tactic, logprob, result, end - start)
            if created != -1:
                if focus is not None and len(states[created].goals) > 1 and splittable(states[created].goals):
                    # The split counts as an expansion in flight from now on; it awaits the environment, and other
                    # runners may finish this node's runs meanwhile: only the run whose edge brought `pending` to 0
                    # closes the expansion, so close it before awaiting.
                    self.in_flight += 1
                    if pending[node] == 0:
                        self._expansion_done(node)
                    await self._split(created)
                    if end >= perf_deadline:
                        self._finish(StopReason.TIMEOUT)
                    continue
                if max_depth is None or depth[created] < max_depth:
                    heappush(heap, (-priority[created], created))
                    if self.in_flight < concurrency and not self.propose_due:
                        self._schedule()
            elif status[0] == PROVED:
                self._root_proved()
            if pending[node] == 0:
                self._expansion_done(node)
            if end >= perf_deadline:
                self._finish(StopReason.TIMEOUT)

    async def _check(self, node: int, tactic: str, logprob: float, result: TacticResult, seconds: float) -> None:
        """Ask the verifier hook about the proof ending with `tactic` at `node`, then record the edge."""
        try:
            accepted = await self._ask((*self.tree.first_path_tactics(node), tactic))
            if accepted is None:
                return
            self._record(node, tactic, logprob, result, seconds, accepted)
            if self.propose_due:
                self._wake_soon()
        except Exception as exc:  # a bug: stop, then re-raise from search()
            self._internal_fault(exc)

    def _record(
        self,
        node: int,
        tactic: str,
        logprob: float,
        result: TacticResult,
        seconds: float,
        accepted: bool,
    ) -> None:
        """Add one run's edge; queue a new node; stop on a proof; close the expansion after its last run."""
        tree = self.tree
        created = tree.add_edge(node, tactic, logprob, result, seconds, accepted)
        if created != -1:
            max_depth = self.config.max_depth
            if max_depth is None or tree.depth[created] < max_depth:
                heapq.heappush(self.heap, (-tree.priority[created], created))
                self._schedule()
        elif tree.status[0] == PROVED:
            self._root_proved()
        if tree.pending[node] == 0:
            self._expansion_done(node)

    async def _split(self, node: int) -> None:
        """Make `node` an AND node when the environment focuses its goals, else queue it whole.

        The caller has counted the split as an expansion in flight (so that the search does not end meanwhile);
        this closes it.
        """
        tree = self.tree
        state = tree.states[node]
        try:
            parts = await self.focus.focus_goals(state)  # type: ignore[union-attr]  # only called with a focus
        except Exception as exc:
            self._external_fault(exc, "environment")
            return
        if self.stopped:
            return
        max_depth = self.config.max_depth
        whole = parts is None or len(parts) != len(state.goals)
        if whole:
            queue = [node]
        else:
            self.goal_splits += 1
            queue = tree.split(node, parts)
        for child in queue:
            if max_depth is None or tree.depth[child] < max_depth:
                heapq.heappush(self.heap, (-tree.priority[child], child))
        if tree.status[0] == PROVED:
            self._root_proved()
        if whole:
            self.in_flight -= 1
            self._schedule()
        else:
            self._expansion_done(node)
        self._wake_soon()

    def _root_proved(self) -> None:
        """The tree proves the root: stop, after the verifier hook accepts the combined proof when goals split."""
        tree = self.tree
        if not tree.and_open:
            self._finish(StopReason.PROVED)
            return
        if self.combining:
            return
        self.combining = True
        script = tree.proof_script()[0]
        if self.accept is None:
            self.combined = script
            self._finish(StopReason.PROVED)
            return
        check = self.loop.create_task(self._check_combined(script))
        self.accept_tasks.append(check)

    async def _ask(self, proof: tuple[str, ...]) -> bool | None:
        """The verifier hook's verdict on a whole proof (counted and timed); None when the hook raised (the search
        then stops with that fault)."""
        self.accept_calls += 1
        start = time.perf_counter()
        try:
            return (await self.accept(proof)) is True  # type: ignore[misc]  # only called when set
        except Exception as exc:
            self._external_fault(exc, "verifier hook")
            return None
        finally:
            self.accept_seconds += time.perf_counter() - start

    async def _check_combined(self, script: tuple[str, ...]) -> None:
        accepted = await self._ask(script)
        if accepted is None:
            return
        if accepted:
            self.combined = script
            self._finish(StopReason.PROVED)
        else:
            # The tree's statuses are final, so the search cannot look for another combination: it ends unproved.
            self.combined_rejected = True
            logger.warning("search of %r: the combined proof of split goals was rejected", self.theorem_name)
            self._finish(StopReason.EXHAUSTED)

    def _expansion_done(self, node: int) -> None:
        self.in_flight -= 1
        if self.config.debug:
            self.tree.check_invariants()
        if self.on_progress is not None:
            now = time.perf_counter()
            if now - self.last_progress >= self.config.progress_interval_s:
                self.last_progress = now
                self.on_progress(self._progress())
        if self.tree.status[0] == FAILED:
            self._finish(StopReason.ROOT_FAILED)
        else:
            self._schedule()

    # ---- the result -----------------------------------------------------------------------------------------

    def _progress(self) -> SearchProgress:
        return SearchProgress(
            elapsed_s=time.perf_counter() - self.t0,
            expansions=self.expansions,
            nodes=self.tree.num_nodes,
            best_depth=self.tree.max_depth,
            env_calls=self.env_calls,
            attempt=self.attempt,
        )

    def _result(self) -> SearchResult:
        end = time.perf_counter()
        total = end - self.t0
        env_busy = self.env_busy + (end - self.env_since if self.env_active else 0.0)
        ext_busy = self.ext_busy + (end - self.ext_since if self.ext_active else 0.0)
        tree = self.tree
        counts = dict(zip(EdgeOutcome, tree.outcome_counts))
        stats = SearchStats(
            expansions=self.expansions,
            nodes=tree.num_nodes,
            max_depth=tree.max_depth,
            duplicate_hits=tree.duplicate_hits,
            env_calls=self.env_calls,
            env_states=counts[EdgeOutcome.STATE],
            env_cycles=counts[EdgeOutcome.CYCLE],
            env_errors=counts[EdgeOutcome.ERROR],
            env_given_up=counts[EdgeOutcome.GIVEN_UP],
            env_proofs=counts[EdgeOutcome.PROVED] + counts[EdgeOutcome.REJECTED],
            env_rejected=counts[EdgeOutcome.REJECTED],
            model_calls=sum(self.batch_sizes.values()),
            model_requests=self.expansions,  # one request per expansion
            batch_sizes=tuple(sorted(self.batch_sizes.items())),
            tactics_proposed=self.tactics_proposed,
            tactics_duplicate=self.tactics_duplicate,
            tactics_banned=self.tactics_banned,
            tactics_empty=self.tactics_empty,
            accept_calls=self.accept_calls,
            goal_splits=self.goal_splits,
            seconds_total=total,
            seconds_model=self.model_busy,
            seconds_env=env_busy,
            seconds_search=max(0.0, total - ext_busy),
            seconds_env_calls=sum(record[SECONDS] for record in tree.edges),
            seconds_accept=self.accept_seconds,
        )
        if tree.and_open:  # goals were split: only a combined proof the hook accepted counts
            proof = self.combined or ()
            proof_edges = tree.proof_edges() if proof else []
        else:
            proof_edges = tree.proof_edges()  # the first accepted proof, after the path that reached its state
            proof = tuple(tree.edges[edge][TACTIC] for edge in proof_edges)
        reason = StopReason.PROVED if proof else self.stop_reason
        error = "" if self.fault is None or proof else f"{type(self.fault).__name__}: {self.fault}"
        if self.combined_rejected and not error:
            error = "the combined proof of the split goals was rejected by the verifier"
        return SearchResult(
            status=reason.status,
            stop_reason=reason,
            proof=proof,
            proof_path=path_steps(tree, proof_edges),
            stats=stats,
            theorem_name=self.theorem_name,
            root_status=tree.root_status,
            alpha=self.config.alpha,
            seed=self.config.seed,
            attempt=self.attempt,
            error=error,
            exception=None if proof else self.fault,
            tree=tree,
        )
