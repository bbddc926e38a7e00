"""Command-line entry points that end user errors in one line instead of a traceback.

A wrong path, a bad config key or a malformed annotation line is the user's to fix, and the
message (which names the file and line, the key or the layer) is all they need; a traceback
through MMEngine's runner only buries it. Set ``MMDET_RNNPOOL_TRACEBACK=1`` to get the
traceback anyway (e.g. when the error looks like a bug).
"""
import os
import os.path as osp
import re
import sys
from typing import Any, Callable, Optional, Sequence

#: Exceptions that carry a user-facing message (bad paths, values, config keys).
USER_ERRORS = (ValueError, KeyError, OSError)

TRACEBACK_ENV = 'MMDET_RNNPOOL_TRACEBACK'

#: A class built from a config called with a key it does not take (or without one it needs):
#: the config's error, e.g. ``--cfg-options model.backbone.no_such_option=1``.
_CONFIG_TYPE_ERROR = re.compile(r'__init__\(\) (got an unexpected keyword argument|missing \d+ '
                                r'required)')


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is the user's to fix (bad path, value, config key)."""
    return isinstance(err, USER_ERRORS) or (isinstance(err, TypeError) and bool(
        _CONFIG_TYPE_ERROR.search(str(err))))


def one_line(err: BaseException) -> str:
    """The exception's message on one line (KeyError's quotes dropped)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return ' | '.join(lines) or type(err).__name__


def run_cli(main: Callable[[Optional[Sequence[str]]], Any],
            argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main(argv)`` and turn a user error into ``prog: error: message`` on stderr.

    Args:
        main (callable): The tool's ``main(argv)``.
        argv (Sequence[str], optional): Arguments. Defaults to None (``sys.argv[1:]``).

    Returns:
        int: The exit status: ``main``'s when it returns an int (a failed check's 1), 2 after a
        user error, else 0.
    """
    try:
        status = main(argv)
    except Exception as err:
        if not is_user_error(err) or os.environ.get(TRACEBACK_ENV, '') not in ('', '0'):
            raise
        prog = osp.basename(sys.argv[0]) or 'mmdet_rnnpool'
        hint = ' (a config key the class does not take)' if isinstance(err, TypeError) else ''
        print(f'{prog}: error: {type(err).__name__}: {one_line(err)}{hint} '
              f'(set {TRACEBACK_ENV}=1 for the traceback)', file=sys.stderr)
        return 2
    return status if isinstance(status, int) and not isinstance(status, bool) else 0
