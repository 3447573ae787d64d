#!/usr/bin/env python3
"""The demo's client side: score the test split over HTTP with the Python client (Open Inference
Protocol, binary tensors), compute the ROC AUC, and measure the server's request rate.

usage: demo_predict.py SERVER MODEL_REF NPY_DIR [--requests N] [--threads T]
NPY_DIR holds what `mlaas batches --split test --out DIR` wrote (features, mask, labels).
Standard library only, like python/mlaas_client.py.
"""
import argparse
import ast
import json
import os
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import mlaas_client  # noqa: E402


def read_npy(path):
    """(dtype, shape, raw bytes) of a version 1 .npy file, C order."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise SystemExit(f"{path}: not a .npy file")
        major, _minor = f.read(2)
        (header_len,) = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))
        header = ast.literal_eval(f.read(header_len).decode("latin1"))
        if header["fortran_order"]:
            raise SystemExit(f"{path}: Fortran order is not supported")
        return header["descr"], list(header["shape"]), f.read()


def rows(shape):
    return shape[0] if shape else 0


def auc(scores, labels):
    """Rank-based ROC AUC (ties get the average rank)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    positives = sum(1 for y in labels if y > 0.5)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise SystemExit("the test split holds only one class: no AUC")
    rank_sum = sum(r for r, y in zip(ranks, labels) if y > 0.5)
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("model")
    parser.add_argument("npy_dir")
    parser.add_argument("--requests", type=int, default=2000, help="single-event requests for the rate")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    f_type, f_shape, f_raw = read_npy(os.path.join(args.npy_dir, "features.npy"))
    m_type, m_shape, m_raw = read_npy(os.path.join(args.npy_dir, "mask.npy"))
    _, _, l_raw = read_npy(os.path.join(args.npy_dir, "labels.npy"))
    if f_type != "<f4" or m_type != "|u1":
        raise SystemExit(f"unexpected dtypes {f_type}, {m_type}")
    n, width = rows(f_shape), f_shape[1]
    labels = list(struct.unpack(f"<{n}f", l_raw))
    client = mlaas_client.Client(args.server)
    output_name = None

    def request(first, count):
        features = list(struct.unpack_from(f"<{count * width}f", f_raw, first * width * 4))
        mask = list(m_raw[first * width:(first + count) * width])
        return [mlaas_client.Tensor("features", "FP32", [count, width], features),
                mlaas_client.Tensor("mask", "UINT8", [count, width], mask)]

    scores = []
    started = time.perf_counter()
    for first in range(0, n, 4096):
        count = min(4096, n - first)
        result = client.infer(args.model, request(first, count), binary=True)
        output = next(iter(result.outputs.values()))
        output_name = output.name
        scores.extend(output.data)
    scoring_seconds = time.perf_counter() - started
    if len(scores) != n:
        raise SystemExit(f"the server returned {len(scores)} scores for {n} events")

    # Request rate: many single-event OIP requests from several threads (keep-alive connections).
    per_thread = max(1, args.requests // args.threads)
    errors = []

    def hammer(seed):
        c = mlaas_client.Client(args.server)
        try:
            for k in range(per_thread):
                c.infer(args.model, request((seed * per_thread + k) % n, 1), binary=True)
        except Exception as e:  # reported below; the demo must fail loudly
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=hammer, args=(t,)) for t in range(args.threads)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate_seconds = time.perf_counter() - started
    if errors:
        raise SystemExit(f"single-event requests failed: {errors[0]}")
    print(json.dumps({
        "test_events": n,
        "test_auc": round(auc(scores, labels), 4),
        "output": output_name,
        "scoring_events_per_second": round(n / scoring_seconds),
        "single_event_requests": per_thread * args.threads,
        "single_event_requests_per_second": round(per_thread * args.threads / rate_seconds),
        "client_threads": args.threads,
    }))


if __name__ == "__main__":
    main()
