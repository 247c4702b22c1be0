"""The one exception the dataset readers raise for bad input."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A dataset file that cannot be read as promised: malformed .mat / JSON / XML, a wrong array
    shape, NaN coordinates, a missing image...

    The message always names the file and the record, as ``"<file>: <record>: <problem>"``, e.g.
    ``".../lsp/joints.mat: image 17 (im0017.jpg) joint 3 (left_hip): NaN coordinates"``.

    file: the annotation (or image) file concerned.
    record: which entry of the file (``"image 17"``, ``"annotation id 42"``, ``"whole file"``...).
    problem: what is wrong with it.
    """

    def __init__(self, file: str | Path, record: str, problem: str) -> None:
        self.file = Path(file)
        self.record = record
        self.problem = problem
        super().__init__(f"{file}: {record}: {problem}")

    def __reduce__(self):  # keep the three-argument constructor picklable (multiprocessing loaders)
        return (type(self), (self.file, self.record, self.problem))
