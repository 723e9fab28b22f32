"""The search graph: proof states as nodes, tactic runs as edges, and how node status follows from them.

Invariants (checked by `SearchTree.check_invariants`, kept by every mutation here):

- Nodes are keyed on the normalised state text (`state_key`, equal to `TacticState.key`): one node per distinct
  proof obligation, whatever path reached it. A multi-goal state is one node; a tactic's result is the next node.
- `STATE` edges form a DAG rooted at node 0. A tactic whose result is the node itself or one of its ancestors is
  recorded as a `CYCLE` edge, which counts as failed and is not part of the DAG (going back cannot help: any proof
  through an ancestor is a proof of that ancestor, found on its own).
- A node is expanded at most once: `pending` is -1 before its expansion starts, then the number of its tactic runs
  still outstanding; the expansion is complete when it reaches 0.
- Status: PROVED when some out-edge proves it (an accepted `ProofFinished`, or a `STATE` edge to a PROVED node);
  FAILED when its expansion is complete, none of its runs was skipped, and every out-edge failed (an error, a
  give-up, a rejected proof, a cycle, or a `STATE` edge to a FAILED node) — a node expanded with no tactic at all
  is FAILED. Otherwise OPEN. PROVED and FAILED are final. Both propagate to parents as soon as they are known.
- `live[n]` counts the out-edges of n that may still prove it (`STATE` edges to OPEN nodes).
- Grafted edges (`graft`, ids in `grafted`) are `STATE` edges a route other than the policy found (the Lean-accepted
  prefix of a whole proof, truncate-and-resume): they are not runs of an expansion, so they may leave a node that is
  not yet expanded, and they never touch `pending`; otherwise they obey every rule above (dedup, DAG, status).

Consequences the search relies on: the root is FAILED only when every node is FAILED; with a deterministic policy
and no caps, the root ends FAILED exactly when no proof is reachable.

Layout: nodes are columns (one list per field, indexed by node id) of ints and floats; each edge is one tuple of
atoms `(src, dst, tactic, logprob, outcome, seconds, error)`; in-edges are a linked list through edge ids. A search
creates no mutable Python container per node or edge, and the garbage collector stops tracking atom-only tuples,
which keeps its full passes — the main cost of an object-per-node tree at 100 000 nodes — out of the search.
`Node` and `Edge` are read-only views for everything outside the hot path.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final, NoReturn

from search.errors import SearchError
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticResult, TacticState

if TYPE_CHECKING:  # networkx is imported lazily, inside `to_networkx`, and only there
    import networkx


class Status(str, enum.Enum):
    """A node's proof status."""

    OPEN = "open"
    PROVED = "proved"
    FAILED = "failed"


class EdgeOutcome(str, enum.Enum):
    """What one tactic run did, as the search sees it.

    `STATE`: a new or known proof state; `CYCLE`: the node itself or an ancestor (failed); `PROVED`: Lean finished
    the proof and it was accepted; `REJECTED`: Lean finished the proof but the verifier hook rejected it (failed);
    `ERROR`: Lean rejected the tactic (`LeanError`); `GIVEN_UP`: timeout or crash (`ProofGivenUp`).
    """

    STATE = "state"
    CYCLE = "cycle"
    PROVED = "proved"
    REJECTED = "rejected"
    ERROR = "error"
    GIVEN_UP = "given_up"


# Column codes: node status and edge outcome are small ints in bytearrays; the enums above are their public names.
OPEN, PROVED, FAILED = 0, 1, 2
STATUSES = (Status.OPEN, Status.PROVED, Status.FAILED)
E_STATE, E_CYCLE, E_PROVED, E_REJECTED, E_ERROR, E_GIVEN_UP = range(6)
OUTCOMES = tuple(EdgeOutcome)  # in code order
FAILED_CODES = frozenset({E_CYCLE, E_REJECTED, E_ERROR, E_GIVEN_UP})
_STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
# Field positions in an edge tuple; Final so that a type checker reads `edge[SRC]` as the field's own type.
SRC: Final = 0
DST: Final = 1
TACTIC: Final = 2
LOGPROB: Final = 3
OUTCOME: Final = 4
SECONDS: Final = 5
ERROR: Final = 6
_OUTCOME_CODE = {outcome: code for code, outcome in enumerate(OUTCOMES)}


def state_key(state: TacticState) -> str:
    """The dedup key of a state; equal to `state.key`, about 5x cheaper.

    `" ".join(s.split())` collapses whitespace runs and strips the ends exactly as `re.sub(r"\\s+", " ", s).strip()`
    does (both use Python's Unicode whitespace), which `tests/test_tree_properties.py` checks on arbitrary text.
    """
    goals = state.goals
    if len(goals) == 1:
        return " ".join(goals[0].split())
    return "\n\n".join([" ".join(g.split()) for g in goals])


class SearchTree:
    """The DAG of one search (see the module docstring for its invariants and layout).

    The search loop drives it through `begin_expansion`, `add_edge` and `skip`, and reads the node columns
    (`states`, `depth`, `logprob`, `priority`, `status`, `parent`, `pending`, `live`) and the `edges` tuples
    directly; treat them as read-only. Everything else reads through `node(i)` / `edge(j)` views.

    Args:
        root: the state to prove (node 0).
        alpha: length normalisation of node priorities: `logprob / depth**alpha`.
    """

    def __init__(self, root: TacticState, alpha: float = 0.5) -> None:
        if not (alpha >= 0 and math.isfinite(alpha)):
            raise SearchError(f"alpha must be finite and >= 0, got {alpha!r}")
        self.alpha = alpha
        self._norm = [1.0]  # depth**alpha by depth; index 0 is never divided by
        # node columns
        self.states: list[TacticState] = [root]
        self.depth: list[int] = [0]
        self.logprob: list[float] = [0.0]  # summed tactic log-probs along the path that first reached the node
        self.priority: list[float] = [0.0]
        self.status = bytearray(1)  # OPEN / PROVED / FAILED codes
        self.parent: list[int] = [-1]  # the first in-edge (the path that first reached the node); -1 at the root
        self.pending: list[int] = [-1]
        self.live: list[int] = [0]
        self.truncated: set[int] = set()
        self.tactics: dict[int, tuple[str, ...]] = {}  # memoised first-path tactics of expanded nodes
        self.by_key: dict[str, int] = {state_key(root): 0}
        # edges: (src, dst, tactic, logprob, outcome, seconds, error); dst is -1 unless STATE or CYCLE, error is
        # Lean's message or the give-up reason, "" otherwise
        self.edges: list[tuple[int, int, str, float, int, float, str]] = []
        self.next_in: list[int] = []  # next in-edge of the same target after the first (STATE edges only)
        self.finished: dict[int, ProofFinished] = {}
        self.proof_edge = -1
        self.duplicate_hits = 0
        self.max_depth = 0
        self.outcome_counts = [0] * len(OUTCOMES)
        self.grafted: set[int] = set()

    # ---- mutation (the search loop) -------------------------------------------------------------------------

    def begin_expansion(self, node: int, runs: int) -> None:
        """Start expanding `node` with `runs` tactic runs to come (0: nothing to try, so the node fails)."""
        if self.pending[node] != -1:
            raise SearchError(f"node {node} is expanded twice")
        if runs < 0:
            raise SearchError(f"negative number of runs for node {node}")
        self.pending[node] = runs
        if runs == 0:
            self._complete(node)

    def skip(self, node: int) -> None:
        """One of `node`'s planned runs will not happen (a cap was hit); the node can then never fail."""
        if self.pending[node] <= 0:
            raise SearchError(f"node {node} has no outstanding run to skip")
        self.truncated.add(node)
        self.pending[node] -= 1

    def add_edge(
        self, node: int, tactic: str, logprob: float, result: TacticResult, seconds: float = 0.0, accepted: bool = True
    ) -> int:
        """Record the result of one of `node`'s planned runs and update statuses.

        Args:
            node: the expanded node.
            tactic: the tactic that ran.
            logprob: its policy score.
            result: what the environment returned.
            seconds: how long the run took.
            accepted: for a `ProofFinished`, whether the verifier hook accepted the proof.

        Returns:
            The id of the node the edge created, or -1 when it created none. The edge's id is
            `len(tree.edges) - 1`.

        Raises:
            SearchError: the node has no outstanding run, or the result is not a `TacticResult`.
        """
        pending = self.pending
        if pending[node] <= 0:
            raise SearchError(f"node {node} has no outstanding run")
        edge = len(self.edges)
        created = dst = next_in = -1
        error = ""
        proves = False
        cls = result.__class__
        if cls is TacticState:
            goals = result.goals  # type: ignore[union-attr]  # cls is TacticState
            key = " ".join(goals[0].split()) if len(goals) == 1 else state_key(result)  # type: ignore[arg-type]
            dst = self.by_key.get(key, -1)
            if dst == -1:
                created = dst = len(self.states)
                depth = self.depth[node] + 1
                norm = self._norm
                if depth >= len(norm):
                    norm.append(depth**self.alpha)
                cum = self.logprob[node] + logprob
                self.states.append(result)  # type: ignore[arg-type]  # cls is TacticState
                self.depth.append(depth)
                self.logprob.append(cum)
                self.priority.append(cum / norm[depth])
                self.status.append(OPEN)
                self.parent.append(edge)
                pending.append(-1)
                self.live.append(0)
                self.by_key[key] = dst
                if depth > self.max_depth:
                    self.max_depth = depth
                self.live[node] += 1
                outcome = E_STATE
            else:
                self.duplicate_hits += 1
                if dst == node or (pending[dst] != -1 and self._reaches(dst, node)):
                    outcome = E_CYCLE
                else:
                    # The root is an ancestor of every node, so `dst` is not the root and has a first in-edge;
                    # the new edge goes right after it in the in-edge list.
                    outcome = E_STATE
                    head = self.parent[dst]
                    next_in = self.next_in[head]
                    self.next_in[head] = edge
                    status = self.status[dst]
                    if status == OPEN:
                        self.live[node] += 1
                    elif status == PROVED:
                        proves = True
        elif cls is LeanError:
            outcome = E_ERROR
            error = result.error  # type: ignore[union-attr]  # cls is LeanError
        elif cls is ProofGivenUp:
            outcome = E_GIVEN_UP
            error = result.reason  # type: ignore[union-attr]  # cls is ProofGivenUp
        elif cls is ProofFinished:
            outcome = E_PROVED if accepted else E_REJECTED
            proves = accepted
            self.finished[edge] = result  # type: ignore[assignment]  # cls is ProofFinished
        else:
            raise SearchError(f"the environment returned {result!r}, which is not a TacticResult")
        self.edges.append((node, dst, tactic, logprob, outcome, seconds, error))
        self.next_in.append(next_in)
        self.outcome_counts[outcome] += 1
        if proves:
            self._prove(node, edge)
        pending[node] -= 1
        if pending[node] == 0:
            self._complete(node)
        return created

    def graft(self, node: int, tactic: str, logprob: float, state: TacticState) -> tuple[int, bool]:
        """Add a `STATE` edge `node --tactic--> state` that no expansion planned (a resumed prefix step).

        Returns (target node, created): the node the step leads to (an existing one when the state is known) and
        whether it is new, or (-1, False) when nothing was added: `node` is no longer OPEN (its status is final),
        or the state is `node` itself or one of its ancestors (a cycle, which cannot help). A step the tree
        already has (same source, same target) is followed without a second edge.
        """
        if self.status[node] != OPEN or state.__class__ is not TacticState:
            return -1, False
        key = state_key(state)
        dst = self.by_key.get(key, -1)
        edge = len(self.edges)
        if dst == -1:
            dst = len(self.states)
            depth = self.depth[node] + 1
            while depth >= len(self._norm):
                self._norm.append(len(self._norm) ** self.alpha)
            cum = self.logprob[node] + logprob
            self.states.append(state)
            self.depth.append(depth)
            self.logprob.append(cum)
            self.priority.append(cum / self._norm[depth])
            self.status.append(OPEN)
            self.parent.append(edge)
            self.pending.append(-1)
            self.live.append(0)
            self.by_key[key] = dst
            self.max_depth = max(self.max_depth, depth)
            self.next_in.append(-1)
            created = True
        else:
            if self._reaches(dst, node):
                return -1, False
            if any(self.edges[e][SRC] == node for e in self.in_edges(dst)):
                return dst, False
            self.duplicate_hits += 1
            head = self.parent[dst]
            self.next_in.append(self.next_in[head])
            self.next_in[head] = edge
            created = False
        self.edges.append((node, dst, tactic, logprob, E_STATE, 0.0, ""))
        self.outcome_counts[E_STATE] += 1
        self.grafted.add(edge)
        status = self.status[dst]
        if status == OPEN:
            self.live[node] += 1
        elif status == PROVED:
            self._prove(node, edge)
        return dst, created

    def in_edges(self, node: int) -> list[int]:
        """The `STATE` edges into `node`, the first (parent) edge first."""
        out = []
        edge = self.parent[node]
        next_in = self.next_in
        while edge != -1:
            out.append(edge)
            edge = next_in[edge]
        return out

    def out_edges(self, node: int) -> list[int]:
        """The edges out of `node`, in the order they were recorded (a scan of all edges)."""
        return [e for e, record in enumerate(self.edges) if record[SRC] == node]

    def _reaches(self, ancestor: int, node: int) -> bool:
        """Whether `ancestor` is `node` or reaches it through `STATE` edges (walks up from `node`)."""
        if ancestor == node:
            return True
        parent, next_in, edges = self.parent, self.next_in, self.edges
        seen = {node}
        stack = [node]
        while stack:
            edge = parent[stack.pop()]
            while edge != -1:
                up = edges[edge][SRC]
                if up == ancestor:
                    return True
                if up not in seen:
                    seen.add(up)
                    stack.append(up)
                edge = next_in[edge]
        return False

    def _complete(self, node: int) -> None:
        if self.live[node] == 0 and self.status[node] == OPEN and node not in self.truncated:
            self._fail(node)

    def _fail(self, node: int) -> None:
        status, live, pending, parent, next_in, edges = (
            self.status,
            self.live,
            self.pending,
            self.parent,
            self.next_in,
            self.edges,
        )
        truncated = self.truncated
        stack = [node]
        while stack:
            failed = stack.pop()
            status[failed] = FAILED
            edge = parent[failed]
            while edge != -1:
                up = edges[edge][SRC]
                live[up] -= 1
                if live[up] == 0 and pending[up] == 0 and status[up] == OPEN and up not in truncated:
                    stack.append(up)
                edge = next_in[edge]

    def _prove(self, node: int, edge: int) -> None:
        if self.proof_edge == -1 and self.edges[edge][OUTCOME] == E_PROVED:
            self.proof_edge = edge
        status, parent, next_in, edges = self.status, self.parent, self.next_in, self.edges
        stack = [node]
        while stack:
            proved = stack.pop()
            if status[proved] == PROVED:
                continue
            status[proved] = PROVED
            up = parent[proved]
            while up != -1:
                stack.append(edges[up][SRC])
                up = next_in[up]

    # ---- reading --------------------------------------------------------------------------------------------

    @property
    def root_status(self) -> Status:
        return STATUSES[self.status[0]]

    @property
    def num_nodes(self) -> int:
        return len(self.states)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def node(self, node: int) -> Node:
        """A read-only view of node `node` (0 is the root)."""
        if not 0 <= node < len(self.states):
            raise IndexError(f"no node {node}")
        return Node(self, node)

    def edge(self, edge: int) -> Edge:
        """A read-only view of edge `edge`."""
        if not 0 <= edge < len(self.edges):
            raise IndexError(f"no edge {edge}")
        return Edge(self, edge)

    @property
    def root(self) -> Node:
        return Node(self, 0)

    def iter_nodes(self) -> Iterator[Node]:
        return (Node(self, i) for i in range(len(self.states)))

    def iter_edges(self) -> Iterator[Edge]:
        return (Edge(self, i) for i in range(len(self.edges)))

    def result_of(self, edge: int) -> TacticResult:
        """What the environment returned for `edge` (a state's text is that of its node)."""
        _, dst, _, _, code, _, error = self.edges[edge]
        if code in (E_STATE, E_CYCLE):
            return self.states[dst]
        if code == E_ERROR:
            return LeanError(error)
        if code == E_GIVEN_UP:
            return ProofGivenUp(error)
        return self.finished.get(edge) or ProofFinished()

    def edge_note(self, edge: int) -> str:
        """Lean's error, the give-up reason, or a note for a rejected proof or a cycle ("" otherwise)."""
        code = self.edges[edge][OUTCOME]
        if code == E_REJECTED:
            return "proof rejected by the verifier"
        if code == E_CYCLE:
            return "the tactic led back to this state or one of its ancestors"
        return self.edges[edge][ERROR]

    def first_path(self, node: int) -> list[int]:
        """The `STATE` edges (ids) of the path that first reached `node`, root first.

        This is the path whose REPL state the node holds: every tactic tried at the node ran on the state that path
        produced, so a proof is that path plus the proving tactic. Another path to the same normalised goals may
        differ in what the goal text hides (metavariable and universe assignments, instance terms), so it is not
        used to build proofs.
        """
        edges, parent = self.edges, self.parent
        path: list[int] = []
        edge = parent[node]
        while edge != -1:
            path.append(edge)
            edge = parent[edges[edge][SRC]]
        path.reverse()
        return path

    def first_path_tactics(self, node: int) -> tuple[str, ...]:
        """The tactics along the path that first reached `node` (what a history-aware prompt shows).

        Memoised; asking for a node after its parent (as expansion order does) costs one tuple copy.
        """
        memo = self.tactics
        tactics = memo.get(node)
        if tactics is None:
            edges, parent = self.edges, self.parent
            walked = []
            edge = parent[node]
            while edge != -1 and edges[edge][SRC] not in memo:
                walked.append(edges[edge][TACTIC])
                edge = parent[edges[edge][SRC]]
            base = () if edge == -1 else (*memo[edges[edge][SRC]], edges[edge][TACTIC])
            tactics = memo[node] = (*base, *reversed(walked))
        return tactics

    def proof_edges(self) -> list[int]:
        """The proving path: the path that first reached the proved node, then the accepted `ProofFinished` edge.

        Empty when no proof was accepted.
        """
        if self.proof_edge == -1:
            return []
        return [*self.first_path(self.edges[self.proof_edge][SRC]), self.proof_edge]

    def failed_edges(self) -> Iterator[Edge]:
        """Edges whose tactic failed (error, give-up, rejected proof, cycle), in the order they were recorded."""
        failed = FAILED_CODES
        return (Edge(self, i) for i, record in enumerate(self.edges) if record[OUTCOME] in failed)

    def check_invariants(self) -> None:
        """Check every invariant of the module docstring; raise `SearchError` naming the first one broken.

        O(nodes + edges) plus one ancestor walk per `CYCLE` edge; for tests and `SearchConfig(debug=True)`.
        """

        def fail(message: str) -> NoReturn:
            raise SearchError(f"search tree invariant broken: {message}")

        edges = self.edges
        n_nodes, n_edges = len(self.states), len(edges)
        node_columns = (self.depth, self.logprob, self.priority, self.status, self.parent, self.pending, self.live)
        if any(len(column) != n_nodes for column in node_columns) or len(self.next_in) != n_edges:
            fail("columns differ in length")
        if len(self.by_key) != n_nodes:
            fail("by_key and the node columns disagree in size")
        if self.parent[0] != -1:
            fail("the root has an in-edge")
        out_lists: list[list[int]] = [[] for _ in range(n_nodes)]
        for e, record in enumerate(edges):
            out_lists[record[SRC]].append(e)
        in_lists = [self.in_edges(n) for n in range(n_nodes)]
        in_sets = [set(edges_in) for edges_in in in_lists]
        for node in range(n_nodes):
            state = self.states[node]
            if self.by_key.get(state.key) != node:
                fail(f"node {node} is not indexed under its TacticState.key")
            for edge in in_lists[node]:
                if edges[edge][DST] != node or edges[edge][OUTCOME] != E_STATE:
                    fail(f"node {node} has in-edge {edge}, which is not a STATE edge to it")
            if node:
                first = self.parent[node]
                if first == -1:
                    fail(f"node {node} has no in-edge")
                up = edges[first][SRC]
                if self.depth[node] != self.depth[up] + 1:
                    fail(f"node {node} depth does not follow its parent edge")
                if not math.isclose(self.logprob[node], self.logprob[up] + edges[first][LOGPROB], abs_tol=1e-9):
                    fail(f"node {node} logprob does not follow its parent edge")
            pending = self.pending[node]
            planned = [e for e in out_lists[node] if e not in self.grafted]
            if pending < -1 or (pending == -1 and (planned or node in self.truncated)):
                fail(f"node {node} pending={pending} disagrees with its edges")
            live = 0
            proving = False
            for edge in out_lists[node]:
                _, dst, _, _, code, _, _ = edges[edge]
                if code == E_STATE:
                    if edge not in in_sets[dst]:
                        fail(f"STATE edge {edge} is missing from its target's in-edges")
                    live += self.status[dst] == OPEN
                    proving |= self.status[dst] == PROVED
                elif code == E_CYCLE:
                    if dst == -1 or not self._reaches(dst, node):
                        fail(f"CYCLE edge {edge} does not lead back to an ancestor")
                elif dst != -1:
                    fail(f"edge {edge} ({OUTCOMES[code].value}) has a target node")
                proving |= code == E_PROVED
            status = self.status[node]
            if (status == PROVED) != proving:
                fail(f"node {node} is {STATUSES[status].value} but {'has' if proving else 'lacks'} a proving edge")
            if status != PROVED and live != self.live[node]:
                fail(f"node {node} live={self.live[node]}, but {live} out-edges can still prove it")
            complete = pending == 0 and node not in self.truncated
            if status == FAILED and not (complete and live == 0):
                fail(f"node {node} is FAILED but is incomplete or has a live edge")
            if status == OPEN and complete and live == 0:
                fail(f"node {node} is complete with no live edge but still OPEN")
        codes = [record[OUTCOME] for record in edges]
        if sum(map(len, in_lists)) != codes.count(E_STATE):
            fail("some STATE edge is missing from in-edge lists")
        if self.outcome_counts != [codes.count(code) for code in range(len(OUTCOMES))]:
            fail("outcome counts disagree with the edges")
        if (self.proof_edge == -1) != (self.status[0] != PROVED):
            fail("the root is PROVED exactly when a proof edge was accepted")
        if self.proof_edge != -1 and codes[self.proof_edge] != E_PROVED:
            fail("the proof edge is not a PROVED edge")
        # Kahn's algorithm over STATE edges: they must form a DAG in which every node is reachable.
        in_count = [len(edges_in) for edges_in in in_lists]
        ready = [0]
        seen = 0
        while ready:
            node = ready.pop()
            seen += 1
            for edge in out_lists[node]:
                if codes[edge] == E_STATE:
                    target = edges[edge][DST]
                    in_count[target] -= 1
                    if in_count[target] == 0:
                        ready.append(target)
        if seen != n_nodes:
            fail("STATE edges contain a cycle, or a node is unreachable")

    # ---- export ---------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The whole graph as JSON-ready values (format `search-tree/1`)."""
        proof = [self.edges[e][TACTIC] for e in self.proof_edges()]
        return {
            "format": "search-tree/1",
            "alpha": self.alpha,
            "status": self.root_status.value,
            "proof": proof or None,
            "nodes": [
                {
                    "id": n,
                    "goals": list(self.states[n].goals),
                    "depth": self.depth[n],
                    "logprob": self.logprob[n],
                    "priority": self.priority[n],
                    "status": STATUSES[self.status[n]].value,
                    "pending": self.pending[n],
                    "truncated": n in self.truncated,
                }
                for n in range(len(self.states))
            ],
            "edges": [
                {
                    "id": e,
                    "src": src,
                    "dst": None if dst == -1 else dst,
                    "tactic": tactic,
                    "logprob": logprob,
                    "outcome": OUTCOMES[code].value,
                    "seconds": seconds,
                    "error": error,
                }
                for e, (src, dst, tactic, logprob, code, seconds, error) in enumerate(self.edges)
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchTree:
        """Rebuild a tree written by `to_json` (statuses as recorded; environment state ids are not kept).

        Raises:
            SearchError: the data is not a well-formed `search-tree/1` graph.
        """
        if not isinstance(data, dict) or data.get("format") != "search-tree/1":
            raise SearchError("not a search-tree/1 graph")
        try:
            nodes = data["nodes"]
            tree = cls(TacticState(tuple(nodes[0]["goals"])), float(data["alpha"]))
            for record in nodes[1:]:
                state = TacticState(tuple(record["goals"]))
                tree.by_key[state_key(state)] = len(tree.states)
                tree.states.append(state)
                tree.depth.append(int(record["depth"]))
                tree.logprob.append(float(record["logprob"]))
                tree.priority.append(float(record["priority"]))
                tree.status.append(OPEN)
                tree.parent.append(-1)
                tree.pending.append(-1)
                tree.live.append(0)
                tree.max_depth = max(tree.max_depth, int(record["depth"]))
            for n, record in enumerate(nodes):
                tree.status[n] = _STATUS_CODE[Status(record["status"])]
                tree.pending[n] = int(record["pending"])
                if record["truncated"]:
                    tree.truncated.add(n)
            last_in: dict[int, int] = {}
            for e, record in enumerate(data["edges"]):
                src = int(record["src"])
                dst = -1 if record["dst"] is None else int(record["dst"])
                code = _OUTCOME_CODE[EdgeOutcome(record["outcome"])]
                error = str(record["error"]) if code in (E_ERROR, E_GIVEN_UP) else ""
                tree.edges.append(
                    (src, dst, str(record["tactic"]), float(record["logprob"]), code, float(record["seconds"]), error)
                )
                tree.next_in.append(-1)
                tree.outcome_counts[code] += 1
                if code == E_STATE:
                    if tree.parent[dst] == -1:
                        tree.parent[dst] = e
                    else:
                        tree.duplicate_hits += 1
                        tree.next_in[last_in[dst]] = e
                    last_in[dst] = e
                    tree.live[src] += tree.status[dst] == OPEN
                elif code == E_CYCLE:
                    tree.duplicate_hits += 1
                elif code == E_PROVED and tree.proof_edge == -1:
                    tree.proof_edge = e
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise SearchError(f"malformed search-tree/1 graph: {exc!r}") from exc
        return tree

    def to_networkx(self) -> networkx.MultiDiGraph:
        """The graph as a `networkx.MultiDiGraph`.

        State nodes are the node ids (attributes: `kind="state"`, `goals`, `depth`, `status`, `logprob`,
        `priority`); every edge that does not lead to a state ends at its own sink node `"<outcome>:<edge id>"`
        (`kind` = the outcome). Edge keys are edge ids; attributes: `tactic`, `logprob`, `outcome`, `seconds`,
        `error`.
        """
        import networkx as nx  # lazily: slow to import and never needed by the search itself

        graph = nx.MultiDiGraph(alpha=self.alpha, status=self.root_status.value)
        for n in range(len(self.states)):
            graph.add_node(
                n,
                kind="state",
                goals=self.states[n].pp,
                depth=self.depth[n],
                status=STATUSES[self.status[n]].value,
                logprob=self.logprob[n],
                priority=self.priority[n],
            )
        for e, (src, dst, tactic, logprob, code, seconds, _) in enumerate(self.edges):
            outcome = OUTCOMES[code].value
            target: int | str = dst
            if dst == -1:
                target = f"{outcome}:{e}"
                graph.add_node(target, kind=outcome)
            graph.add_edge(
                src,
                target,
                key=e,
                tactic=tactic,
                logprob=logprob,
                outcome=outcome,
                seconds=seconds,
                error=self.edge_note(e),
            )
        return graph


class Node:
    """A read-only view of one node of a `SearchTree`."""

    __slots__ = ("tree", "id")

    def __init__(self, tree: SearchTree, id: int) -> None:
        self.tree = tree
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.tree is self.tree and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.tree), self.id))

    def __repr__(self) -> str:
        return f"Node({self.id}, depth={self.depth}, {self.status.value}, priority={self.priority:.3f})"

    @property
    def state(self) -> TacticState:
        return self.tree.states[self.id]

    @property
    def depth(self) -> int:
        """Depth along the path that first reached the node (0 at the root)."""
        return self.tree.depth[self.id]

    @property
    def logprob(self) -> float:
        return self.tree.logprob[self.id]

    @property
    def priority(self) -> float:
        return self.tree.priority[self.id]

    @property
    def status(self) -> Status:
        return STATUSES[self.tree.status[self.id]]

    @property
    def expanded(self) -> bool:
        """Whether the node's expansion has started."""
        return self.tree.pending[self.id] != -1

    @property
    def pending(self) -> int:
        return self.tree.pending[self.id]

    @property
    def truncated(self) -> bool:
        return self.id in self.tree.truncated

    @property
    def parent_edge(self) -> Edge | None:
        first = self.tree.parent[self.id]
        return None if first == -1 else Edge(self.tree, first)

    @property
    def in_edges(self) -> list[Edge]:
        return [Edge(self.tree, e) for e in self.tree.in_edges(self.id)]

    @property
    def edges(self) -> list[Edge]:
        """Out-edges in the order they were recorded."""
        return [Edge(self.tree, e) for e in self.tree.out_edges(self.id)]


class Edge:
    """A read-only view of one edge (one tactic run) of a `SearchTree`."""

    __slots__ = ("tree", "id")

    def __init__(self, tree: SearchTree, id: int) -> None:
        self.tree = tree
        self.id = id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Edge) and other.tree is self.tree and other.id == self.id

    def __hash__(self) -> int:
        return hash((id(self.tree), self.id, "edge"))

    def __repr__(self) -> str:
        src, dst, tactic, _, code, _, _ = self.tree.edges[self.id]
        return f"Edge({self.id}, {src} -> {None if dst == -1 else dst}, {tactic!r}, {OUTCOMES[code].value})"

    @property
    def src(self) -> Node:
        return Node(self.tree, self.tree.edges[self.id][SRC])

    @property
    def dst(self) -> Node | None:
        """The resulting node for `STATE` and `CYCLE` edges, else None."""
        target = self.tree.edges[self.id][DST]
        return None if target == -1 else Node(self.tree, target)

    @property
    def tactic(self) -> str:
        return self.tree.edges[self.id][TACTIC]

    @property
    def logprob(self) -> float:
        return self.tree.edges[self.id][LOGPROB]

    @property
    def outcome(self) -> EdgeOutcome:
        return OUTCOMES[self.tree.edges[self.id][OUTCOME]]

    @property
    def seconds(self) -> float:
        return self.tree.edges[self.id][SECONDS]

    @property
    def result(self) -> TacticResult:
        return self.tree.result_of(self.id)

    @property
    def error(self) -> str:
        """Lean's message for a failed tactic, the give-up reason, or a note for a rejected proof or a cycle."""
        return self.tree.edge_note(self.id)
