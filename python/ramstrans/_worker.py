"""What ramstrans.distributed runs on a Dask worker: one batch of files through a model the worker
process loads once (kept for the process's life, shared by its threads; each thread its own
context).  Importable by reference, so workers need the ramstrans package and libramstrans."""

import os
import threading

_models = {}
_lock = threading.Lock()


def model(path, precision, threads, kernel=None):
    """The process's model for (path, precision, threads per image, kernel), loaded on first
    use."""
    import ramstrans
    key = (path, precision, threads, kernel)
    with _lock:
        m = _models.get(key)
        if m is None:
            m = _models[key] = ramstrans.Model(path, threads=threads, precision=precision,
                                               kernel=kernel)
        return m


def classify_batch(items, model_path, mode, top_k, precision, threads, kernel=None):
    """items: file names (bytes), each as it is shown, or a pair (as shown, as opened) when the
    worker must open it by another name (a relative name made absolute by the client, whose
    working directory the worker does not share).  Returns [(True, json_line_bytes) |
    (False, message_bytes)] in the order of items, naming each file as shown; a file that fails
    gives its library message and the others go on.  A model that cannot be loaded raises (the
    client reports it)."""
    import ramstrans
    m = model(model_path, precision, threads, kernel)
    out = []
    for item in items:
        shown, opened = item if isinstance(item, (tuple, list)) else (item, item)
        try:
            d = m.classify(opened, mode=mode, top_k=top_k)
            d["file"] = os.fsdecode(shown)
            out.append((True, ramstrans.dumps(d).encode("utf-8", "surrogateescape")))
        except ramstrans.Error as e:
            message = str(e).encode("utf-8", "surrogateescape")
            if opened != shown and message.startswith(opened + b":"):
                message = shown + message[len(opened):]
            out.append((False, message))
    return out
