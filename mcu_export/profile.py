"""Per-layer instruction profile of a generated project in QEMU (``make qemu-profile``).

The profile image is the M4 build with ``-DRP_PROFILE``: the generated ``<prefix>_run`` and the
stream scheduler call the hooks of ``runtime/rp_profile.h`` around every unit of work (each
whole-map step, each stream stage's steps, the stream, the output op, the tensor hook), and the
harness counts instructions exactly (QEMU ``-icount shift=7``; see ``templates/harness.c``) and
prints ``profile ID INSTRUCTIONS CALLS`` per unit (self instructions, nested units excluded).
This module names those ids after the program's layers and stream stages (MAdds from the op
registry's ``op.madds``) and checks the rows against the unprofiled run.
"""
import re
from pathlib import Path
from typing import Dict, List, Optional

from .ir import LayerProgram

PROFILE_HEADER = Path(__file__).resolve().parent / 'runtime' / 'rp_profile.h'


def profile_ids() -> Dict[str, int]:
    """The id constants of ``rp_profile.h`` (``ID_RUN``, ``STEP_BASE`` ...): one source of
    truth for the C hooks and this module."""
    text = PROFILE_HEADER.read_text()
    ids = {m.group(1): int(m.group(2))
           for m in re.finditer(r'^#define RP_PROFILE_(\w+) (\d+)\b', text, re.M)}
    missing = {'ID_RUN', 'ID_STREAM', 'ID_OUTPUT', 'ID_REPORT', 'STEP_BASE',
               'STAGE_BASE'} - set(ids)
    if missing:
        raise ValueError(f'{PROFILE_HEADER}: no #define RP_PROFILE_{sorted(missing)[0]}')
    return ids


def parse_profile(text: str) -> dict:
    """The profile image's output -> ``instructions`` (the profiled run, hooks included),
    ``leak``, ``events``, ``error`` and ``units`` ``{id: (instructions, calls)}``.

    Raises:
        ValueError: the output has no profile (a harness error line is quoted).
    """
    units = {int(i): (int(n), int(c))
             for i, n, c in re.findall(r'^profile (\d+) (-?\d+) (\d+)$', text, re.M)}
    found = dict(re.findall(r'^(instructions|profile_leak|profile_events) (\d+)$', text, re.M))
    if not units or len(found) < 3:
        err = re.search(r'^error: .*$', text, re.M)
        raise ValueError('no profile in the output of the profile image'
                         + (f' ({err.group(0)})' if err else ''))
    return dict(instructions=int(found['instructions']), leak=int(found['profile_leak']),
                events=int(found['profile_events']),
                error=bool(re.search(r'^profile_error', text, re.M)), units=units)


def _ratio(instructions: int, madds: int) -> Optional[float]:
    return round(instructions / madds, 2) if madds else None


def profile_rows(program: LayerProgram, parsed: dict) -> List[dict]:
    """One row per unit of work, in execution order: stream stages, the stream's own work,
    whole-map steps, the output op, the tensor hook, the run's own code.

    Each row: ``unit`` (layer / stage name), ``where`` (stream / whole map / ...), ``kind``,
    ``madds``, ``instructions`` (self), ``calls``, ``instructions_per_madd``, ``share`` (of
    the rows' sum).
    """
    ids = profile_ids()
    units = dict(parsed['units'])
    rows = []

    def take(unit_id, unit, where, kind, madds):
        instr, calls = units.pop(unit_id, (0, 0))
        rows.append(dict(unit=unit, where=where, kind=kind, madds=int(madds),
                         instructions=instr, calls=calls))

    for i, stage in enumerate(program.stream.stages):
        take(ids['STAGE_BASE'] + i, stage.name, 'stream stage', stage.report_kind, stage.madds)
    take(ids['ID_STREAM'], '(stream)', 'stream', 'camera rows, scheduling', 0)
    for i, step in enumerate(program.steps, start=1):
        layer = step.layer
        take(ids['STEP_BASE'] + i, layer.name, 'whole map', layer.report_kind, layer.madds)
    out = program.output
    take(ids['ID_OUTPUT'], out.name, 'output', out.report_kind, out.madds)
    take(ids['ID_REPORT'], '(tensor hook)', 'harness', 'checksums, prints', 0)
    take(ids['ID_RUN'], '(run)', 'model.c', 'glue', 0)
    if units:
        raise ValueError(f'profile ids {sorted(units)} belong to no layer or stage of '
                         f'{program.name}')
    total = sum(r['instructions'] for r in rows)
    for r in rows:
        r['instructions_per_madd'] = _ratio(r['instructions'], r['madds'])
        r['share'] = round(r['instructions'] / total, 4) if total else None
    return rows


def build_profile(program: LayerProgram, parsed: dict,
                  unprofiled_instructions: Optional[int]) -> dict:
    """``report.json``'s ``profile``: the rows and how their sum compares with the unprofiled
    run (``make qemu``'s count, a multiple of 40: +-40)."""
    rows = profile_rows(program, parsed)
    total = sum(r['instructions'] for r in rows)
    stream = sum(r['instructions'] for r in rows if r['where'] in ('stream', 'stream stage'))
    hooks = parsed['instructions'] - total
    data = dict(rows=rows, rows_sum=total, stream_total=stream, madds=program.madds,
                instructions_per_madd=_ratio(total, program.madds),
                profiled_run_instructions=parsed['instructions'], hook_events=parsed['events'],
                hook_instructions_per_event=round(hooks / parsed['events'], 1)
                if parsed['events'] else None,
                hook_leak_subtracted_per_event=parsed['leak'], error=parsed['error'],
                unprofiled_instructions=unprofiled_instructions)
    if unprofiled_instructions:
        diff = total - unprofiled_instructions
        data.update(difference=diff,
                    difference_fraction=round(diff / unprofiled_instructions, 6),
                    difference_per_event=round(diff / parsed['events'], 2)
                    if parsed['events'] else None)
    return data


def profile_markdown(profile: dict) -> List[str]:
    """report.md lines: the table and the consistency line."""
    def ratio(v):
        return '' if v is None else f'{v:.2f}'

    avg = profile['instructions_per_madd']
    lines = ['## Per-layer profile (QEMU instructions)', '',
             'Self instructions of each unit of work in the profile image (`-DRP_PROFILE`, '
             '`make qemu-profile`: QEMU `-icount shift=7`, exact); a stream stage\'s row holds '
             'all its steps, idle checks of the scheduler included. '
             f'Model average: {ratio(avg)} instructions / MAdd.', '',
             '| unit | where | kind | MAdds | instructions | instr / MAdd | share | calls |',
             '|---|---|---|---|---|---|---|---|']
    for r in profile['rows']:
        lines.append(f'| {r["unit"]} | {r["where"]} | {r["kind"]} | {r["madds"]:,} | '
                     f'{r["instructions"]:,} | {ratio(r["instructions_per_madd"])} | '
                     f'{r["share"]:.1%} | {r["calls"]:,} |')
    lines += ['', f'Stream in all (stages + camera rows and scheduling): '
              f'{profile["stream_total"]:,} instructions.', '']
    un = profile['unprofiled_instructions']
    consistency = (f'Sum of the rows: {profile["rows_sum"]:,} instructions; ')
    if un:
        consistency += (f'the unprofiled run (`make qemu`, +-40): {un:,}; difference '
                        f'{profile["difference"]:+,} ({profile["difference_fraction"]:+.3%}, '
                        f'{profile["difference_per_event"]:+} per hook event). ')
    consistency += (f'The profile image ran {profile["profiled_run_instructions"]:,} '
                    f'instructions with {profile["hook_events"]:,} hook events '
                    f'({profile["hook_instructions_per_event"]} instructions each; '
                    f'{profile["hook_leak_subtracted_per_event"]} of them fall inside the '
                    'measured intervals and are subtracted).')
    if profile['error']:
        consistency += ' The hooks reported unbalanced or unknown ids: the rows are not exact.'
    return lines + [consistency, '']


__all__ = ['profile_ids', 'parse_profile', 'profile_rows', 'build_profile',
           'profile_markdown', 'PROFILE_HEADER']
