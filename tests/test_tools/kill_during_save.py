"""Imported by a training run under test (``custom_imports``): its Nth checkpoint write stops
half way, as a process killed during the save leaves it.

The write puts the first half of the checkpoint's bytes on disk (flushed), creates the marker
file ``$KILL_DURING_SAVE_MARKER`` and waits; the test then SIGKILLs the process. Every
checkpoint MMEngine writes to a local folder goes through ``LocalBackend.put``, whatever name
the checkpoint hook gives the file (the final one or a temporary one).
"""
import os
import os.path as osp
import time

from mmengine.fileio.backends import LocalBackend

_AT = int(os.environ.get('KILL_DURING_SAVE_AT', '0'))
_MARKER = os.environ.get('KILL_DURING_SAVE_MARKER', '')
_writes = 0
_put = LocalBackend.put


def _put_then_hang(self, obj, filepath):
    global _writes
    if str(filepath).endswith(('.pth', '.pth.partial')):
        _writes += 1
        if _writes == _AT:
            os.makedirs(osp.dirname(str(filepath)), exist_ok=True)
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            with open(_MARKER, 'w') as f:
                f.write(str(filepath))
            time.sleep(600)  # killed here
    return _put(self, obj, filepath)


if _AT > 0:
    LocalBackend.put = _put_then_hang
