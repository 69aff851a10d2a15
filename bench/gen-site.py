#!/usr/bin/env python3
"""Writes a synthetic static-site output tree for the scan benchmark.

Default shape (about 100,000 files, 2 GB), like a large blog's build output:
  - HTML pages of 5-35 KB in post/tag/page folders (the bulk of the files),
  - images of 20 KB - 2 MB,
  - a few files of 10-30 MB (videos, archives).
Sizes are log-uniform, so small files are the most common, as on real sites.
Content is pseudo-random but deterministic (seeded), so two runs write the same bytes.

With --small N (the 1M-file scale benchmark: --small 1000000), N small files instead, so that a
million of them fit in about 5 GB: a quarter are HTML pages of 1-12 KB in a folder of their own
(`posts/123/item-123456/index.html`, as generators write pretty URLs), the rest assets of
100 B - 6 KB, 1,000 to a folder (`assets/css/0123/asset-0123456.css`).
"""
import argparse
import math
import os
import random


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="output folder to create (must not exist)")
    ap.add_argument("--pages", type=int, default=99_000)
    ap.add_argument("--images", type=int, default=995)
    ap.add_argument("--large", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--small", type=int, metavar="N", help="write N small files instead (see above)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    os.makedirs(args.dir)
    # A pool of random bytes; each file is a slice of it plus its own header, so files differ.
    pool = rng.randbytes(64 * 1024 * 1024)
    total = 0

    def size(low: int, high: int) -> int:
        return int(math.exp(rng.uniform(math.log(low), math.log(high))))

    made = set()

    def write(rel: str, size: int, header: bytes) -> None:
        nonlocal total
        path = os.path.join(args.dir, rel)
        folder = os.path.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
        with open(path, "wb") as f:
            f.write(header)
            remaining = size
            while remaining > 0:
                chunk = pool[start:start + min(remaining, len(pool) - start)]
                f.write(chunk)
                remaining -= len(chunk)
                start = 0
        total += size + len(header)

    if args.small is not None:
        exts = ("css", "js", "json", "svg", "png", "xml", "txt", "webp")
        for i in range(args.small):
            if i % 4 == 0:
                section = ("posts", "tags", "page", "docs")[i // 4 % 4]
                rel = f"{section}/{i // 4000:03d}/item-{i:07d}/index.html"
                write(rel, size(1_000, 12_000), f"<!doctype html><title>{i}</title>\n".encode())
            else:
                ext = exts[i % len(exts)]
                rel = f"assets/{ext}/{i // 1000:04d}/asset-{i:07d}.{ext}"
                write(rel, size(100, 6_000), f"/* {i} */\n".encode())
            # The folder cache only needs the current folders.
            if len(made) > 10_000:
                made.clear()
        print(f"wrote {args.small} files, {total / 1e9:.2f} GB in {args.dir}")
        return
    for i in range(args.pages):
        section = ("posts", "tags", "page", "docs")[i % 4]
        rel = f"{section}/{i // 1000:03d}/item-{i:06d}/index.html"
        write(rel, size(5_000, 35_000), f"<!doctype html><title>{i}</title>\n".encode())
    for i in range(args.images):
        write(f"images/{i // 200:02d}/img-{i:05d}.jpg", size(20_000, 2_000_000), b"\xff\xd8\xff")
    for i in range(args.large):
        write(f"media/video-{i:02d}.mp4", size(10_000_000, 30_000_000), b"\x00\x00\x00\x18ftyp")
    files = args.pages + args.images + args.large
    print(f"wrote {files} files, {total / 1e9:.2f} GB in {args.dir}")


if __name__ == "__main__":
    main()
