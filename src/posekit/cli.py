"""``posekit`` command line: data stats/show/prepare, train, eval, predict, demo, export, models, serve.

Errors a user can cause (bad paths, malformed files, bad config keys) print one clear line naming the
file and exit with status 2, never a bare traceback.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
from pathlib import Path

from posekit.assets import DEMO_IMAGE


def _cmd_data_stats(args: argparse.Namespace) -> None:
    from posekit.data import load, parse_spec, stats

    fmt, path = parse_spec(args.spec)
    samples = load(fmt, path, split=args.split)
    result = stats(samples)
    width = max(len(k) for k in result)
    print(f"{fmt}:{path}" + (f" split={args.split}" if args.split else ""))
    for key, value in result.items():
        print(f"  {key:<{width}}  {value:.4f}" if isinstance(value, float) else f"  {key:<{width}}  {value}")


def _cmd_data_show(args: argparse.Namespace) -> None:
    from posekit.data import load, parse_spec
    from posekit.data.dataset import read_image
    from posekit.viz import draw_sample, save_image

    fmt, path = parse_spec(args.spec)
    samples = load(fmt, path, split=args.split)
    if not 0 <= args.index < len(samples):
        raise ValueError(f"--index {args.index} out of range: {fmt}:{path} has {len(samples)} samples")
    sample = samples[args.index]
    image = draw_sample(read_image(sample.image_path), sample)
    out = Path(args.out) if args.out else _default_out("sample.png")
    save_image(out, image)
    print(f"{sample.image_path} ({len(sample.people)} people, skeleton {sample.skeleton.name}) -> {out}")


def _cmd_data_prepare(args: argparse.Namespace) -> None:
    from posekit.config import resolve_data_root
    from posekit.data.prepare import prepare_coco_person, read_coco_image_ids, read_id_list, summary_lines

    root = resolve_data_root("")
    splits = Path(args.splits) if args.splits else root / "coco_person"
    mini_val = Path(args.coco_mini_val or root / "coco_mini/annotations/person_keypoints_val2017.json")
    result = prepare_coco_person(args.images, args.labels, args.out, test_ids=read_id_list(splits / "test_ids.txt"),
                                 reserved_ids=read_id_list(splits / "reserved_ids.txt"),
                                 mini_val_ids=read_coco_image_ids(mini_val), val_fraction=args.val_fraction,
                                 seed=args.seed)
    print(f"coco-person -> {args.out}")
    print("\n".join(summary_lines(result.counts)))


def _cmd_train(args: argparse.Namespace) -> None:
    from posekit.config import load_config
    from posekit.train import train

    cfg = load_config(args.config, args.overrides)
    try:
        result = train(cfg, resume=args.resume)
    except KeyboardInterrupt:
        from posekit.checkpoint import safe_load

        last = Path(cfg.train.out_dir) / "last.pt"
        if last.exists():
            where = f"step {safe_load(last).get('step')} ({last})"
            again = " ".join(["posekit train", args.config, *args.overrides, "--resume"])
            print(f"\ninterrupted; the run can resume from {where}: {again}", file=sys.stderr)
        else:
            print("\ninterrupted before the first checkpoint: nothing to resume from", file=sys.stderr)
        return 130
    state = "finished" if result.finished else "stopped early (continue with --resume)"
    print(f"{state} at step {result.step}: {result.checkpoint}")


def _cmd_eval(args: argparse.Namespace) -> None:
    from posekit.api import load_model
    from posekit.data import load, parse_spec, with_images
    from posekit.evaluate import evaluation_report, protocol

    fmt, path = parse_spec(args.data)
    samples = load(fmt, path, split=args.split)
    note = ""
    if fmt == "mpii":  # the h5 lists people whose photo is not at hand: score those with an image
        present = with_images(samples)
        note = f" ({len(present)} of {len(samples)} images present; the others are annotation-only)"
        samples = present
    if args.limit:
        samples = samples[: args.limit]
    predictor = load_model(args.model, device=args.device, overrides=args.set, **_runtime(args))
    how = protocol(fmt, args.gt_boxes)
    report = {"command": args.command_line, "date": datetime.date.today().isoformat(), "model": str(args.model),
              "overrides": args.set, "data": args.data, "split": args.split, "protocol": how,
              "num_images": len(samples)}
    print(f"{args.model} on {fmt}:{path} split={args.split}{note}: {how}")
    fields, lines = evaluation_report(predictor, samples, fmt, gt_boxes=args.gt_boxes)
    report.update(fields)
    print("\n".join(lines))
    if predictor.runtime_summary():  # a method that reports its cost per image (DeepCut)
        report["runtime"] = predictor.runtime_summary()
        print(f"  cost: {_format(report['runtime'])}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"  -> {args.json}")


def _cmd_predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from posekit.api import load_model
    from posekit.predict.inputs import VIDEO_SUFFIXES, iter_inputs
    from posekit.types import results_json

    if not args.paths and args.source is None:
        raise ValueError("nothing to predict: give image/video paths, or --source CAMERA_INDEX|URL")
    if args.workers > 1 and not args.out:
        raise ValueError("--workers runs predictor processes for --out only (posekit predict SOURCES --out results/)")
    if args.out and args.workers > 1:  # the workers load the model, not this process
        return _predict_to_folder(None, args)
    predictor = load_model(args.model, device=args.device, overrides=args.set, **_runtime(args))
    if args.out:
        return _predict_to_folder(predictor, args)
    inputs = list(iter_inputs(args.paths))
    if not inputs and args.source is None:
        raise ValueError(f"no images or videos in {args.paths}")
    draw_dir = Path(args.draw) if args.draw else None
    if draw_dir:
        draw_dir.mkdir(parents=True, exist_ok=True)
    found: list[tuple[str, int | None, list]] = []  # (file, frame, predictions)
    failed = []
    for path in tqdm(inputs, desc="predicting", unit="file", disable=len(inputs) < 2):
        try:
            if path.suffix.lower() in VIDEO_SUFFIXES:
                found += _predict_video(predictor, path, draw_dir, args)
            else:
                found.append(_predict_image(predictor, path, draw_dir, args.quiet))
        except (OSError, ValueError) as e:  # one bad file must not lose the others' results
            where = "" if str(path) in str(e) else f" {path}"  # the readers' messages name the file already
            print(f"posekit: warning: skipped{where}: {e}", file=sys.stderr)
            failed.append(str(path))
    if args.source is not None:  # a camera or stream: its errors are the command's
        found += _predict_video(predictor, args.source, draw_dir, args)
    summary = predictor.runtime_summary()
    if summary and len(found) > 1:
        print(f"cost over {len(found)} images/frames: {_format(summary)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        results = results_json(found)
        Path(args.json).write_text(json.dumps(results, indent=1))
        print(f"{len(results)} people in {len(found)} images/frames -> {args.json}")
    elif args.quiet:
        print(f"{sum(len(p) for _, _, p in found)} people in {len(found)} images/frames")
    if failed:
        print(f"posekit: error: {len(failed)} of {len(inputs)} inputs failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _predict_to_folder(predictor, args: argparse.Namespace) -> int:
    """``--out``: streamed, resumable JSON Lines shards (posekit.batch; ``predictor`` None: --workers processes,
    posekit.batch_workers); non-zero when inputs failed."""
    from posekit.batch import ERRORS, run

    if args.source is not None or args.json or args.draw:
        raise ValueError("--out takes SOURCES only (no --source, --json or --draw); merge with posekit results merge")
    try:
        if predictor is None:
            from posekit.batch_workers import run_workers

            c = run_workers(args.paths, args.out, model=args.model, workers=args.workers, threads=args.threads,
                            backend=args.backend, device=args.device, overrides=args.set,
                            shard_size=args.shard_size, track=args.track, max_frames=args.max_frames)
        else:
            c = run(predictor, args.paths, args.out, model=args.model, shard_size=args.shard_size,
                    track=args.track, max_frames=args.max_frames)
    except KeyboardInterrupt:  # what finished is committed: the same command resumes
        print(f"\ninterrupted; the same command resumes into {args.out}", file=sys.stderr)
        return 130
    print(f"{c['inputs']} inputs: {c['done']} done now, {c['skipped']} finished before; {c['records']} records "
          f"-> {args.out} (posekit results merge {args.out} --coco out.json)")
    if c["errors"]:
        print(f"posekit: error: {c['errors']} inputs could not be read: {Path(args.out) / ERRORS}", file=sys.stderr)
        return 1
    return 0


def _cmd_results_merge(args: argparse.Namespace) -> int:
    from posekit.batch import merge

    images, results = merge(args.folder, args.coco)
    print(f"{results} people in {images} images/frames -> {args.coco}")
    return 0


def _predict_image(predictor, path: Path, draw_dir: Path | None, quiet: bool) -> tuple[str, None, list]:
    """One image's people, printed (unless ``quiet``) and drawn into ``draw_dir``."""
    from posekit.data.dataset import read_image
    from posekit.viz import draw_predictions, save_image

    image = read_image(path)
    preds = predictor.predict(image)
    if draw_dir:
        save_image(draw_dir / (path.stem + "_pose.png"), draw_predictions(image, preds))
    if not quiet:
        print(f"{path}: {len(preds)} {'person' if len(preds) == 1 else 'people'}"
              + "".join(f"\n  score {p.score:.2f}, box {[round(float(v)) for v in p.box]}" for p in preds))
        if predictor.last_stats:  # users must see how slow a method is (DeepCut's ILP)
            print(f"  cost: {_format(predictor.last_stats)}")
    return str(path), None, preds


def _predict_video(predictor, source, draw_dir: Path | None, args: argparse.Namespace) -> list[tuple[str, int, list]]:
    """Every frame's people of a video file, camera index or stream URL (tracked with ``--track``); the drawn
    video goes into ``draw_dir``, written by a background thread. Ends with the time split per frame. The video
    files are released however the loop ends (Ctrl-C and errors included); Ctrl-C on a camera or stream ends it
    and keeps what was found."""
    import re

    from tqdm import tqdm

    from posekit.predict.video import FrameWriter
    from posekit.viz import draw_predictions

    name = Path(source).stem if isinstance(source, Path) else re.sub(r"[^A-Za-z0-9_.-]+", "_", str(source))[-60:]
    frames = predictor.predict_video(source, track=args.track)
    found, writer, out_video = [], None, None
    live = not isinstance(source, Path)
    try:
        if draw_dir:
            out_video = draw_dir / (f"{name}_pose.mp4" if not live else f"source_{name}_pose.mp4")
            writer = FrameWriter(out_video, frames.fps, draw_predictions, frames.timing)
        for index, frame, preds in tqdm(frames, total=frames.total_frames, desc=name, unit="frame"):
            found.append((str(source), index, preds))
            if writer is not None:
                writer.write(frame, preds)
            if args.max_frames and len(found) >= args.max_frames:
                break
    except KeyboardInterrupt:
        if not live:
            raise
        print(f"\nstopped after {len(found)} frames", file=sys.stderr)
    finally:
        frames.close()  # releases the capture now, not when the iterator is collected
        if writer is not None:
            writer.close()
    frames.timing.stop()
    if not args.quiet:
        if out_video is not None:
            print(f"{source} -> {out_video}")
        ids = {p.track_id for _, _, preds in found for p in preds if p.track_id is not None}
        print(f"{source}: " + (f"{len(ids)} people tracked; " if args.track else "") + frames.timing.line())
    return found


def _format(stats: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in stats.items())


def _default_out(name: str) -> Path:
    """Where an output goes when the user names none: a fresh temporary folder, never the working tree."""
    import tempfile

    return Path(tempfile.mkdtemp(prefix="posekit_")) / name


def _cmd_demo(args: argparse.Namespace) -> None:
    from posekit.api import load_model
    from posekit.data.dataset import read_image
    from posekit.viz import draw_predictions, save_image

    predictor = load_model("default", device=args.device, **_runtime(args))
    image = read_image(DEMO_IMAGE)
    preds = predictor.predict(image)
    out = Path(args.out) if args.out else _default_out("demo_pose.png")
    save_image(out, draw_predictions(image, preds))
    print(f"default model on {DEMO_IMAGE.name} (a frame of OpenCV's vtest.avi sample video, Apache-2.0/BSD): "
          f"{len(preds)} {'person' if len(preds) == 1 else 'people'}")
    for i, p in enumerate(preds, 1):
        x, y, w, h = p.box
        print(f"  person {i}: score {p.score:.2f}, box x={x:.0f} y={y:.0f} w={w:.0f} h={h:.0f}")
        for name, (jx, jy, s) in zip(p.skeleton.joints, p.keypoints):
            print(f"    {name:<15} x={jx:7.1f} y={jy:7.1f} score={s:.2f}")
    print(f"drawing -> {out}")


def _cmd_export(args: argparse.Namespace) -> None:
    if args.format == "onnx":
        return _export_onnx(args)
    if args.int8 or args.calibration:
        raise ValueError("--int8 and --calibration apply to --format onnx")
    from posekit.checkpoint import export_checkpoint

    out = export_checkpoint(args.checkpoint, args.out, half=not args.fp32, overrides=args.set)
    print(f"{args.checkpoint} -> {out} ({out.stat().st_size / 1e6:.1f} MB)")


def _export_onnx(args: argparse.Namespace) -> None:
    from posekit.export import calibration_images, export_pipeline

    calibration = None
    if args.int8:
        if not args.calibration:
            raise ValueError("--int8 needs --calibration FORMAT:PATH: training images to calibrate on")
        calibration = calibration_images(args.calibration, args.calibration_split, args.calibration_images)
    manifest = export_pipeline(args.checkpoint, args.out, overrides=args.set,
                               quantize="int8" if args.int8 else None, calibration=calibration)
    files = [manifest["pose"]["file"]] + ([manifest["detector"]["file"]] if manifest["detector"] else [])
    sizes = ", ".join(f"{f} {(Path(args.out) / f).stat().st_size / 1e6:.1f} MB" for f in files)
    check = manifest["check"]
    print(f"{args.checkpoint} -> {args.out}: {sizes}{' (int8)' if args.int8 else ''}; batch dynamic"
          + ("; detector input H, W dynamic (multiples of 32)" if manifest["detector"] else ""))
    print(f"checked on the demo photo: {check['people_onnx']} people (PyTorch {check['people_torch']}), keypoints "
          f"within {check['max_keypoint_diff_px']:.3f} px of PyTorch's")
    print(f"run it: posekit predict IMAGE --model {args.out}")


def _runtime(args: argparse.Namespace) -> dict:
    """``--backend`` / ``--threads`` as load_model arguments; ``--threads`` also sets PyTorch's threads."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return {"backend": args.backend, "threads": args.threads or None}


def _add_runtime_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"),
                   help="what runs the networks: onnxruntime (CPU; needs pip install 'posekit[onnx]'; a "
                        "checkpoint is exported once into ~/.cache/posekit/onnx), torch, or auto = "
                        "onnxruntime where it is installed and the device is the CPU")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for the networks (0 = the libraries' "
                   "default)")


def _cmd_models(args: argparse.Namespace) -> None:
    from posekit.zoo import entries, format_table

    print(format_table(entries()))
    print("\nload one by name: posekit predict photo.jpg --model NAME, or posekit.load_model(NAME) in Python")


def _cmd_cache(args: argparse.Namespace) -> None:
    from posekit.runtime import cache

    if args.action == "clear":
        freed = cache.clear(args.kind)
        print(f"removed {freed / 1e6:.1f} MB from {cache.root()}")
        return
    info = cache.info()
    print(f"posekit cache: {info['root']} (POSEKIT_CACHE moves it)")
    print(f"  onnx   {info['onnx']['entries']:4d} exports     {info['onnx']['bytes'] / 1e6:8.1f} MB   (bounded: "
          f"{info['onnx_max_bytes'] / 1e6:.0f} MB, POSEKIT_CACHE_MAX_MB; least recently used removed first)")
    print(f"  crops  {info['crops']['entries']:4d} files       {info['crops']['bytes'] / 1e6:8.1f} MB   (posekit "
          "train; bounded by data.cache_max_gb)")
    print("posekit cache clear [onnx|crops] removes them")


def _add_set_argument(p: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable) for commands that load or export a model: changes to its stored
    config (e.g. the predictor settings under ``predict.``)."""
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change the checkpoint's stored config, e.g. model.kwargs.stages_used=1 or "
                        "predict.refine_steps=4 (repeatable)")


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="a zoo name (posekit models), a checkpoint, or an exported "
                   "ONNX folder")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ...; none = cuda if available")
    _add_runtime_arguments(p)
    _add_set_argument(p)


FMT = argparse.ArgumentDefaultsHelpFormatter


def _add_data_commands(sub) -> None:
    data = sub.add_parser("data", help="inspect and prepare labelled datasets")
    data = data.add_subparsers(dest="data_command", required=True)
    p = data.add_parser("stats", help="count images, people and joints", formatter_class=FMT)
    p.add_argument("spec", help="FORMAT:PATH, e.g. lsp:../shared/datasets/lsp")
    p.add_argument("--split", default=None, help="the format's split (e.g. train, test, val2017); none = all")
    p.set_defaults(func=_cmd_data_stats)
    p = data.add_parser("show", help="draw one sample with its skeleton", formatter_class=FMT)
    p.add_argument("spec", help="FORMAT:PATH")
    p.add_argument("--split", default=None, help="the format's split; none = all")
    p.add_argument("--index", type=int, default=0, help="which sample")
    p.add_argument("--out", default=None, help="drawing path (default: a new temporary folder, printed)")
    p.set_defaults(func=_cmd_data_show)
    p = data.add_parser("prepare", help="write COCO-format train/val/test JSON from photos + label files",
                        formatter_class=FMT)
    p.add_argument("dataset", choices=("coco-person",), help="coco-person: COCO val2017 person photos with "
                   "YOLO-pose keypoint label files (docs/coco_person.md)")
    p.add_argument("--images", nargs="+", required=True, help="folders of <12-digit id>.jpg photos")
    p.add_argument("--labels", required=True, help="folder of <12-digit id>.txt label files")
    p.add_argument("--out", required=True, help="output folder (person_keypoints_{train,val,test}.json)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="share of the training photos held out as val")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val draw")
    p.add_argument("--splits", default=None, help="folder with test_ids.txt and reserved_ids.txt (default: "
                   "$POSEKIT_DATA/coco_person, else ../shared/datasets/coco_person)")
    p.add_argument("--coco-mini-val", default=None, help="COCO-mini val2017 JSON whose photos stay out of train "
                   "and val (default: <datasets>/coco_mini/annotations/person_keypoints_val2017.json)")
    p.set_defaults(func=_cmd_data_prepare)


def _add_train_eval_commands(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config", formatter_class=FMT)
    p.add_argument("config", help="configs/*.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-3 train.max_steps=100 "
                   "(also accepted after --resume)")
    p.add_argument("--resume", action="store_true", help="continue exactly from <out_dir>/last.pt (the config "
                   "must be the same, except keys that only say when and where work happens)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="score a model on a labelled dataset", formatter_class=FMT)
    p.add_argument("--data", required=True, help="FORMAT:PATH, e.g. lsp:../shared/datasets/lsp")
    p.add_argument("--split", default=None, help="the format's split (LSP test = 'test'); none = all")
    p.add_argument("--json", default=None, help="write the report here")
    p.add_argument("--gt-boxes", action="store_true", help="pose each annotated person in the box the dataset's "
                   "protocol gives (COCO bbox, MPII centre/scale, LSP keypoint box) instead of finding people")
    p.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    _add_model_arguments(p)
    p.set_defaults(func=_cmd_eval)


def _add_predict_commands(sub) -> None:
    p = sub.add_parser("predict", help="keypoints for images, folders, videos, cameras and streams",
                       formatter_class=FMT, epilog="videos: posekit predict clip.mp4 --track --json out.json --draw "
                       "out/ follows people (a track_id per result, One-Euro-smoothed keypoints, the raw ones in "
                       "keypoints_raw; ids drawn in the video); a camera: --source 0; a stream: --source "
                       "rtsp://host/path (anything OpenCV's FFmpeg opens). Ends with the time per frame: decode, "
                       "detector, pose, tracking, writing.")
    p.add_argument("paths", nargs="*", help="image files, folders of images, video files")
    p.add_argument("--source", default=None, help="a camera index (0 = the first camera) or a stream URL "
                   "(rtsp://, http://...), read through OpenCV; Ctrl-C ends it")
    p.add_argument("--track", action="store_true", help="videos: follow people through the frames (stable ids, "
                   "smoothed keypoints)")
    p.add_argument("--max-frames", type=int, default=0, help="videos: stop after this many frames (0 = all)")
    p.add_argument("--json", default=None, help="write COCO results here (image_id + file_name per person; "
                   "frame, and with --track track_id and keypoints_raw, for videos)")
    p.add_argument("--draw", default=None, help="folder for drawings (PNG) and annotated videos (MP4)")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per image (big folders): the progress "
                   "bar, warnings and the summary only")
    p.add_argument("--out", default=None, help="large jobs: stream JSON Lines shards, an index and errors.jsonl "
                   "into this folder; the same command again resumes. SOURCES: files, folders, @list.txt, globs")
    p.add_argument("--shard-size", type=int, default=1000, help="--out: records per shard file")
    p.add_argument("--workers", type=int, default=1, help="--out: predictor processes (each loads the model; "
                   "--threads then defaults to cores // workers)")
    _add_model_arguments(p)
    p.set_defaults(func=_cmd_predict)

    results = sub.add_parser("results", help="results folders written by posekit predict --out").add_subparsers(
        dest="action", required=True)
    p = results.add_parser("merge", help="one COCO results file from a results folder", formatter_class=FMT)
    p.add_argument("folder", help="the folder given to posekit predict --out")
    p.add_argument("--coco", required=True, help="COCO results JSON to write (image ids in source order)")
    p.set_defaults(func=_cmd_results_merge)

    p = sub.add_parser("demo", help="run the default model on a bundled street photo", formatter_class=FMT)
    p.add_argument("--out", default=None, help="drawing path (default: a new temporary folder, printed)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ...; none = cuda if available")
    _add_runtime_arguments(p)
    p.set_defaults(func=_cmd_demo)


def _add_export_command(sub) -> None:
    p = sub.add_parser("export", help="slim a training checkpoint to weights + config for predict/eval, or "
                       "export a model and its person detector to ONNX", formatter_class=FMT)
    p.add_argument("checkpoint", help="a checkpoint written by posekit train (best.pt / last.pt); with --format "
                   "onnx also a zoo name ('default')")
    p.add_argument("--out", required=True, help="where to write the slim checkpoint (pt) or the folder (onnx)")
    p.add_argument("--format", default="pt", choices=("pt", "onnx"),
                   help="pt: slim PyTorch checkpoint; onnx: a folder with pose.onnx, detector.onnx and "
                        "posekit.json for the onnxruntime backend (load it with --model DIR)")
    p.add_argument("--fp32", action="store_true", help="pt: keep float32 weights (default: float16 storage)")
    p.add_argument("--int8", action="store_true", help="onnx: static int8 quantisation (needs --calibration)")
    p.add_argument("--calibration", default=None, metavar="FORMAT:PATH",
                   help="onnx --int8: training images to calibrate on, e.g. lsp:../shared/datasets/lsp")
    p.add_argument("--calibration-split", default="train", help="the calibration set's split (never a test split)")
    p.add_argument("--calibration-images", type=int, default=100, help="how many calibration images (seeded draw)")
    _add_set_argument(p)
    p.set_defaults(func=_cmd_export)


def _cmd_serve(args: argparse.Namespace) -> None:
    from posekit.serve.run import serve
    from posekit.serve.settings import ServeSettings

    serve(ServeSettings(model=args.model, host=args.host, port=args.port, token=args.token, workers=args.workers,
                        threads=args.threads or None, max_upload_mb=args.max_upload_mb, max_video_mb=args.max_video_mb,
                        max_pixels=args.max_pixels, max_frames=args.max_frames, timeout=args.timeout,
                        queue_size=args.queue_size or None, backend=args.backend))


def _add_serve_command(sub) -> None:
    p = sub.add_parser("serve", help="a local web page and HTTP API: drop photos or a video, see the poses",
                       formatter_class=FMT)
    p.add_argument("--model", default="default", help="the model requests use when they name none (a zoo name)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; anything but loopback needs --token")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on every API call (the "
                   "page asks for it, or reads it from its address: http://HOST:PORT/#token=TOKEN)")
    p.add_argument("--workers", type=int, default=1, help="prediction threads, each with its own models")
    p.add_argument("--threads", type=int, default=0, help="network threads per worker (0 = CPU cores / workers)")
    p.add_argument("--queue-size", type=int, default=0, help="requests that may wait for a worker; more get 503 + "
                   "Retry-After (0 = 4 x workers)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"), help="what runs the "
                   "networks (as posekit predict's --backend)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="size limit of a photo upload")
    p.add_argument("--max-video-mb", type=float, default=200.0, help="size limit of a video upload")
    p.add_argument("--max-pixels", type=int, default=50_000_000, help="pixel limit of a photo or video frame")
    p.add_argument("--max-frames", type=int, default=5000, help="frame limit of a video")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a /v1/predict request may take (504 after)")
    p.set_defaults(func=_cmd_serve)


def _add_info_commands(sub) -> None:
    p = sub.add_parser("models", help="the model zoo: every model that loads by name, with its headline figure")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("cache", help="what posekit keeps in its cache folder, and clearing it", formatter_class=FMT)
    p.add_argument("action", choices=("info", "clear"))
    p.add_argument("kind", nargs="?", choices=("onnx", "crops"), default=None, help="clear only this kind")
    p.set_defaults(func=_cmd_cache)


def build_parser() -> argparse.ArgumentParser:
    from posekit import __version__

    parser = argparse.ArgumentParser(prog="posekit", description="2D human pose estimation toolkit",
                                     formatter_class=FMT)
    parser.add_argument("--version", action="version", version=f"posekit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of any error")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_data_commands, _add_train_eval_commands, _add_predict_commands, _add_export_command,
                _add_info_commands, _add_serve_command):
        add(sub)
    return parser


BUG_REPORT = ("this is a bug in posekit, not in your input: please report it on the project's issue tracker with "
              "the output of the same command run with --debug")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # the command line as typed, for reports that must say how to reproduce them (eval --json)
    args.command_line = shlex.join(["posekit", *(sys.argv[1:] if argv is None else argv)])
    if extra:  # `posekit train CONFIG --resume key=value`: overrides may follow the flags too
        if args.command == "train" and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    from posekit.config import ConfigError
    from posekit.data.errors import DataError

    try:
        rc = args.func(args)
    except (DataError, ConfigError, OSError, ValueError, ImportError) as e:  # what a user can cause and mend
        if args.debug:
            raise
        print(f"posekit: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # anything else is posekit's own fault
        if args.debug:
            raise
        print(f"posekit: internal error: {type(e).__name__}: {e}\n{BUG_REPORT}", file=sys.stderr)
        return 3
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
