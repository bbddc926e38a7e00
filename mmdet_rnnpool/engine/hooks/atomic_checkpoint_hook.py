"""MMEngine's ``CheckpointHook`` with crash-safe saving.

MMEngine 0.10.7 deletes the oldest kept checkpoint *before* writing the new one, writes the new
one in place, then rewrites ``last_checkpoint``, which ``--resume`` reads. A run killed during the
write (out of memory, a pre-empted job, Ctrl-C twice) leaves a truncated checkpoint and, with
``max_keep_ckpts=1``, no complete one at all, while ``last_checkpoint`` names a deleted file.

:class:`AtomicCheckpointHook` writes the checkpoint to a hidden temporary file in the same folder,
flushes it to disk and renames it into place (``os.replace`` is atomic on POSIX), does the same
for ``last_checkpoint``, and only then deletes the checkpoints no longer kept. Whenever the
process dies, ``last_checkpoint`` names a complete checkpoint. Temporary files left by a killed
run are removed when training starts again. Object stores (non-local ``out_dir``) write whole
objects already and keep MMEngine's path.
"""
import os
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

#: Prefix / suffix of the temporary file a checkpoint is written to before its rename.
PARTIAL_PREFIX = '.'
PARTIAL_SUFFIX = '.partial'


def partial_name(filename: str) -> str:
    """The temporary name ``filename`` is written under (hidden, same folder)."""
    return f'{PARTIAL_PREFIX}{filename}{PARTIAL_SUFFIX}'


def _fsync(path: str) -> None:
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def _replace_durably(tmp: str, path: str) -> None:
    """Rename ``tmp`` over ``path`` after its bytes are on disk, then persist the rename."""
    _fsync(tmp)
    os.replace(tmp, path)
    try:  # the directory entry too (not every platform / file system allows it)
        fd = os.open(osp.dirname(osp.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = osp.join(osp.dirname(path), partial_name(osp.basename(path)))
    with open(tmp, 'w') as f:
        f.write(text)
    _replace_durably(tmp, path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose checkpoints survive a crash during the save."""

    def _local(self) -> bool:
        return isinstance(getattr(self, 'file_backend', None), LocalBackend)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self._local() and is_main_process() and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):
                if name.startswith(PARTIAL_PREFIX) and name.endswith(PARTIAL_SUFFIX):
                    os.remove(osp.join(self.out_dir, name))
                    runner.logger.info(f'removed {name}, a checkpoint whose save was '
                                       'interrupted')

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._local():
            return super()._save_checkpoint_with_step(runner, step, meta)
        # Which checkpoint stops being kept is decided (and recorded in the message hub, which
        # the checkpoint stores) before the save, as MMEngine does; the file goes after it.
        outdated: List[int] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        tmp_filename = partial_name(ckpt_filename)
        runner.save_checkpoint(
            self.out_dir,
            tmp_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        _replace_durably(osp.join(self.out_dir, tmp_filename), self.last_ckpt)
        write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old_step in outdated:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are folders
                self.file_backend.rmtree(path)
