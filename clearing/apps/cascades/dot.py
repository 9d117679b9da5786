"""The liquidations' causal graph as Graphviz DOT (`clearing cascades --dot`)."""

from __future__ import annotations

from clearing.apps.cascades.model import Cascade, Cascades, Liquidation

# Fill colours of the DOT nodes by generation (the last for every deeper one).
GENERATION_COLOURS = ("#c6dbef", "#fdd0a2", "#fc9272", "#ef3b2c", "#a50f15")


def to_dot(result: Cascades, limit: int = 2000) -> str:
    """Return the causal graph of the liquidations as Graphviz DOT, at most `limit` nodes.

    Nodes are liquidations (seq, account, the symbol of the market it closed first, generation,
    notional), filled by generation; an edge
    runs from each generation-k parent to the generation-(k + 1) liquidation its fills drove.
    Each cascade of two or more liquidations is a cluster. Whole cascades are kept, those
    with depth >= 1 first, each by notional, largest first, while they fit; when the first
    does not fit alone, its first `limit` liquidations (by generation, then seq) are kept.
    Comments at the top say what was left out.
    """
    if limit < 1:
        raise ValueError(f"limit {limit}: expected at least 1 node")
    groups = sorted(result.cascades(), key=lambda c: (c.depth == 0, -c.notional, c.root))
    shown: list[tuple[Cascade, tuple[Liquidation, ...]]] = []
    room, cut = limit, 0
    for c in groups:
        if len(c.liquidations) <= room:
            shown.append((c, c.liquidations))
            room -= len(c.liquidations)
        elif not shown:
            kept = tuple(sorted(c.liquidations, key=lambda x: (x.generation, x.seq))[:room])
            shown.append((c, kept))
            cut, room = len(c.liquidations) - len(kept), 0
    kept_seqs = {x.seq for _c, xs in shown for x in xs}
    left = [c for c in groups if c.root not in {s.root for s, _ in shown}]
    lines = [
        f"// clearing cascades: {len(result.liquidations)} liquidations in {len(groups)} cascades, "
        f"{result.generations} generation(s); node limit {limit}",
        f"// shown: {len(kept_seqs)} liquidations in {len(shown)} cascades (depth >= 1 first, then by notional)",
    ]
    if left or cut:
        lines.append(
            f"// left out: {sum(len(c.liquidations) for c in left) + cut} liquidations: {len(left)} whole cascades "
            f"(notional {sum(c.notional for c in left)}, the largest {max((c.notional for c in left), default=0)})"
            + (f" and {cut} of the largest cascade (its deepest generations)" if cut else "")
        )
    lines.append("// colours by generation: " + ", ".join(f"{g} {c}" for g, c in enumerate(GENERATION_COLOURS)) + " and deeper")
    lines += [
        "digraph cascades {",
        "  rankdir=LR;",
        '  node [shape=box, style=filled, fontsize=10, fontname="Helvetica"];',
    ]
    edges: list[str] = []
    dropped = 0
    for cascade, members in shown:
        indent = "  "
        if len(cascade.liquidations) > 1:
            lines.append(f"  subgraph cluster_{cascade.root} {{")
            symbols = ", ".join(_quoted(m) for m in dict.fromkeys(x.symbol for x in cascade.liquidations) if m)
            lines.append(
                f'    label="cascade {cascade.head().seq}: {len(cascade.liquidations)} liquidations, '
                f'notional {cascade.notional}, depth {cascade.depth}{f" ({symbols})" if symbols else ""}";'
            )
            indent = "    "
        for x in members:
            colour = GENERATION_COLOURS[min(x.generation, len(GENERATION_COLOURS) - 1)]
            market = f"\\n{_quoted(x.symbol)}" if x.symbol else ""
            lines.append(
                f'{indent}L{x.seq} [label="{x.seq}\\naccount {x.account}{market}\\ngen {x.generation}\\nnotional {x.notional}", '
                f'fillcolor="{colour}"];'
            )
            for p in x.parents:
                if p in kept_seqs:
                    edges.append(f"  L{p} -> L{x.seq};")
                else:
                    dropped += 1
        if indent == "    ":
            lines.append("  }")
    lines += edges
    if dropped:
        lines.append(f"  // {dropped} edge(s) from liquidations left out are not drawn")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    # Inside a DOT string: backslashes and quotes escaped.
    return text.replace("\\", "\\\\").replace('"', '\\"')
