"""Make a converted dataset root self-contained by linking the source folders into it.

The classification tools do not copy images: they write annotation files whose paths start
with a link (e.g. ``train2014 -> /data/coco/train2014``) placed next to them, so a config needs
only ``data_root`` and the annotation files stay valid wherever the source lives.
"""
import os
import os.path as osp


def link_source(out_dir: str, name: str, target: str) -> str:
    """Make ``out_dir/name`` a symbolic link to the folder ``target``.

    An existing link is replaced; when ``out_dir/name`` already *is* ``target`` (the output
    root is the source root), nothing is done.

    Returns:
        str: The link's path.

    Raises:
        FileNotFoundError: If ``target`` is not a folder.
        FileExistsError: If ``out_dir/name`` exists and is not a link (it is never removed).
    """
    target = osp.abspath(target)
    if not osp.isdir(target):
        raise FileNotFoundError(f'folder not found: {target}')
    os.makedirs(out_dir, exist_ok=True)
    link = osp.join(out_dir, name)
    if osp.realpath(link) == osp.realpath(target):
        return link
    if osp.islink(link):
        os.remove(link)
    elif osp.exists(link):
        raise FileExistsError(f'{link} exists and is not a link: move it away or choose '
                              f'another output folder (it would be the link to {target})')
    os.symlink(target, link, target_is_directory=True)
    return link
