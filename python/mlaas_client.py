"""Python client of the mlaas model server (docs/http-api.md), standard library only.

    from mlaas_client import Client, Tensor
    client = Client("http://127.0.0.1:8083", token="...")
    card = client.upload("higgs", "model.onnx", {"description": "ttbar vs QCD"})
    result = client.infer("higgs@production", [Tensor("input", "FP32", [1, 42], [0.0] * 42)])
    print(result.outputs["output"].data)

https:// URLs verify the server's certificate and host name: against `ca_file` (or the file in
MLAAS_CA_FILE) when given, else the system store (SSL_CERT_FILE / SSL_CERT_DIR are honoured);
`insecure=True` turns verification off.

A Client keeps one HTTP/1.1 keep-alive connection per thread, so it may be shared by threads.
Idempotent calls (GET, PUT, DELETE, inference) are retried on connection failures, timeouts and
429/502/503/504 with exponential backoff; uploads are never retried. Every failure raises
MlaasError carrying the HTTP status (0 when no response came) and the server's message.
"""

import array
import http.client
import json
import math
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

__all__ = ["Client", "Tensor", "InferResult", "MlaasError", "DATATYPES"]

# OIP datatype -> array typecode (fixed-size types; native byte order checked below).
DATATYPES = {
    "BOOL": "B", "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q",
    "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "FP32": "f", "FP64": "d",
}
_RETRIABLE_STATUSES = (429, 502, 503, 504)
# How the server writes a non-finite float output in JSON (docs/http-api.md#non-finite-values).
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class MlaasError(Exception):
    """A failed call: `status` is the HTTP status (0 without a response), `message` the server's."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message


class Tensor:
    """A named tensor: `data` is a flat row-major list (bools for BOOL, bytes for BYTES)."""

    def __init__(self, name, datatype, shape, data):
        if datatype not in DATATYPES and datatype != "BYTES":
            raise ValueError(f"tensor '{name}': unknown datatype '{datatype}'")
        self.name = name
        self.datatype = datatype
        self.shape = [int(d) for d in shape]
        self.data = list(_flatten(data))
        count = 1
        for d in self.shape:
            if d < 0:
                raise ValueError(f"tensor '{name}': negative dimension in shape {self.shape}")
            count *= d
        if count != len(self.data):
            raise ValueError(f"tensor '{name}': shape {self.shape} holds {count} elements but the data has {len(self.data)}")

    def __repr__(self):
        return f"Tensor({self.name!r}, {self.datatype!r}, {self.shape!r}, {self.data!r})"

    def to_bytes(self):
        """Raw little-endian bytes as the binary tensor extension sends them."""
        if self.datatype == "BYTES":
            out = bytearray()
            for item in self.data:
                item = item.encode() if isinstance(item, str) else bytes(item)
                out += struct.pack("<I", len(item)) + item
            return bytes(out)
        values = [1 if v else 0 for v in self.data] if self.datatype == "BOOL" else self.data
        return _to_little_endian(array.array(DATATYPES[self.datatype], values)).tobytes()

    @classmethod
    def from_bytes(cls, name, datatype, shape, raw):
        if datatype == "BYTES":
            items, offset = [], 0
            while offset < len(raw):
                if len(raw) - offset < 4:
                    raise MlaasError(0, f"output '{name}': truncated BYTES length")
                (length,) = struct.unpack_from("<I", raw, offset)
                offset += 4
                if length > len(raw) - offset:
                    raise MlaasError(0, f"output '{name}': BYTES element overruns the data")
                items.append(bytes(raw[offset:offset + length]))
                offset += length
            return cls(name, datatype, shape, items)
        if datatype not in DATATYPES:
            raise MlaasError(0, f"output '{name}': datatype '{datatype}' cannot be decoded")
        values = array.array(DATATYPES[datatype])
        if len(raw) % values.itemsize:
            raise MlaasError(0, f"output '{name}': {len(raw)} bytes is not a whole number of {datatype}")
        values.frombytes(raw)
        data = values.tolist() if sys.byteorder == "little" else _to_little_endian(values).tolist()
        if datatype == "BOOL":
            data = [bool(v) for v in data]
        return cls(name, datatype, shape, data)

    def to_json(self):
        """The tensor as the JSON of a request. JSON has no NaN or infinity (json.dumps would write a
        bare NaN, which the server refuses as malformed): such values are refused here, as the C++
        client does; send them with binary=True."""
        if self.datatype in ("FP32", "FP64"):
            for index, value in enumerate(self.data):
                if not math.isfinite(value):
                    raise MlaasError(0, f"tensor '{self.name}': element {index} is not finite "
                                        "(JSON cannot carry it; use binary)")
        data = [v.decode() if isinstance(v, bytes) else v for v in self.data] if self.datatype == "BYTES" else self.data
        return {"name": self.name, "datatype": self.datatype, "shape": self.shape, "data": data}


class InferResult:
    """model_name, model_version, id and outputs (a dict name -> Tensor, in response order)."""

    def __init__(self, model_name, model_version, request_id, outputs):
        self.model_name = model_name
        self.model_version = model_version
        self.id = request_id
        self.outputs = outputs

    def __repr__(self):
        return f"InferResult({self.model_name!r}, {self.model_version!r}, {list(self.outputs.values())!r})"


def _flatten(data):
    if isinstance(data, (list, tuple)):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _to_little_endian(values):
    if sys.byteorder != "little":
        values = array.array(values.typecode, values)
        values.byteswap()
    return values


def _quote(segment):
    return urllib.parse.quote(str(segment), safe="")


def _parse_ref(reference):
    """'name', 'name/versions/N' or 'name@alias' -> (name, version or None, alias or None)."""
    if "@" in reference and "/versions/" in reference:
        raise ValueError(f"bad model reference '{reference}': both an alias and a version")
    if "@" in reference:
        name, alias = reference.split("@", 1)
        if not name or not alias:
            raise ValueError(f"bad model reference '{reference}'")
        return name, None, alias
    if "/versions/" in reference:
        name, version = reference.split("/versions/", 1)
        if not name or not version.isdigit() or int(version) < 1:
            raise ValueError(f"bad model reference '{reference}'")
        return name, int(version), None
    if not reference or "/" in reference:
        raise ValueError(f"bad model reference '{reference}'")
    return reference, None, None


class Client:
    def __init__(self, url=None, token=None, timeout=60.0, retries=3, backoff=0.1, ca_file=None, insecure=False):
        url = url or os.environ.get("MLAAS_SERVER") or "http://127.0.0.1:8083"
        parsed = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if parsed.scheme not in ("http", "https"):
            raise ValueError(f"bad server URL '{url}': expected http:// or https://")
        if not parsed.hostname:
            raise ValueError(f"bad server URL '{url}': no host")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.scheme == "https" else 80)
        self._tls = None
        if self.scheme == "https":
            if insecure:
                self._tls = ssl._create_unverified_context()  # noqa: S323 - asked for explicitly
            else:
                ca_file = ca_file or os.environ.get("MLAAS_CA_FILE") or None
                try:
                    self._tls = ssl.create_default_context(cafile=ca_file)
                except (OSError, ssl.SSLError) as error:
                    raise ValueError(f"{ca_file}: cannot load CA certificates (PEM expected): {error}") from error
        self.prefix = parsed.path.rstrip("/")
        self.token = token if token is not None else os.environ.get("MLAAS_TOKEN") or None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all_connections = []  # every thread's connection, so close() can reach them
        self.connections_opened = 0  # for diagnostics: keep-alive means this stays small

    def close(self):
        """Closes every kept-alive connection (each thread opens a new one on its next call)."""
        with self._lock:
            connections, self._all_connections = self._all_connections, []
        for connection in connections:
            connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- transport ---------------------------------------------------------------------------

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._tls is not None:
                connection = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._tls)
            else:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._all_connections.append(connection)
                self.connections_opened += 1
        return connection

    def _drop_connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
            with self._lock:
                if connection in self._all_connections:
                    self._all_connections.remove(connection)

    def _request(self, method, path, body=None, headers=None, idempotent=True):
        """(status, headers, body bytes); raises MlaasError for HTTP errors and transport failures."""
        headers = dict(headers or {})
        headers.setdefault("Accept", "application/json")
        headers["User-Agent"] = "mlaas-python/0.1"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay = self.backoff
        attempt = 0
        while True:
            try:
                connection = self._connection()
                try:
                    connection.request(method, self.prefix + path, body=body, headers=headers)
                except (BrokenPipeError, ConnectionResetError) as send_error:
                    # The server may have answered early (413 for a body over its limit) and
                    # stopped reading: report its answer, not the broken pipe, when it is there.
                    try:
                        response = connection.getresponse()
                    except (OSError, http.client.HTTPException):
                        raise send_error from None
                    response.will_close = True
                else:
                    response = connection.getresponse()
                payload = response.read()
                if response.will_close:
                    self._drop_connection()
                status = response.status
                failure = None
            except ssl.SSLCertVerificationError as error:
                self._drop_connection()  # not transient: never retried
                raise MlaasError(0, f"{method} https://{self.host}:{self.port}{self.prefix}{path}: the server's "
                                    f"certificate does not verify: {error.verify_message} (give its CA with ca_file= "
                                    f"or MLAAS_CA_FILE, or insecure=True)") from error
            except (OSError, http.client.HTTPException) as error:
                self._drop_connection()
                status, payload, response = 0, b"", None
                kind = "timed out" if isinstance(error, (socket.timeout, TimeoutError)) else "failed"
                failure = MlaasError(0, f"{method} {self.scheme}://{self.host}:{self.port}{self.prefix}{path} {kind}: {error}")
            transient = failure is not None or status in _RETRIABLE_STATUSES
            if transient and idempotent and attempt < self.retries:
                attempt += 1
                time.sleep(delay)  # give an overloaded or restarting server room
                delay = min(delay * 2, 2.0)
                continue
            if failure is not None:
                raise failure
            if status >= 400:
                raise MlaasError(status, _error_message(payload, method, path))
            return status, response.headers, payload

    def _json(self, method, path, payload=None, idempotent=True):
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        _, _, data = self._request(method, path, body, headers, idempotent)
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise MlaasError(0, f"unexpected response to {method} {path}: not JSON") from None

    # ---- model repository --------------------------------------------------------------------

    def upload(self, name, model, metadata=None):
        """Uploads ONNX bytes (or a file path) as the next version; returns the model card."""
        return self._upload(name, model, metadata, dry_run=False)

    def check_upload(self, name, model=b"", metadata=None):
        """An upload's dry run: the token, the name, the metadata and (if given) the model are
        checked as an upload checks them, nothing is stored. Returns {"dry_run": True, "name",
        "version": the number an upload would get now, "model_checked"}."""
        if isinstance(model, (str, os.PathLike)) or len(model):
            # a server older than dry runs would store a model sent with the flag: send it only
            # to a server that has just answered an empty dry run as one
            try:
                self.check_upload(name, b"", metadata)
            except MlaasError as error:
                if error.status == 400 and "the ONNX file is empty" in error.message:
                    raise MlaasError(400, "the server does not support dry runs (it ignored dry_run and "
                                          "refused the empty probe); the model was not sent") from error
                raise
        answer = self._upload(name, model, metadata, dry_run=True)
        if answer.get("dry_run") is not True:
            raise MlaasError(0, "the server did not answer as a dry run "
                                "(a server without dry_run stores what it is sent)")
        return answer

    def _upload(self, name, model, metadata, dry_run):
        if isinstance(model, (str, os.PathLike)):
            with open(model, "rb") as file:
                model = file.read()
        headers = {"Content-Type": "application/octet-stream"}
        path = f"/api/v1/models/{_quote(name)}/versions" + ("?dry_run=true" if dry_run else "")
        body = bytes(model)
        if metadata:
            text = json.dumps(metadata, ensure_ascii=True)
            if len(text) <= 4096:
                headers["X-Mlaas-Metadata"] = text
            else:  # servers cap header sizes: send large metadata as a multipart part
                boundary = "mlaas-python-boundary"
                while boundary.encode() in body or boundary in text:
                    boundary += "-x"
                headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
                body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
                        f"Content-Type: application/json\r\n\r\n{text}\r\n"
                        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"model.onnx\"\r\n"
                        f"Content-Type: application/octet-stream\r\n\r\n").encode() + body + \
                       f"\r\n--{boundary}--\r\n".encode()
        # a retried upload could store the model twice; a dry run stores nothing
        _, _, data = self._request("POST", path, body, headers, idempotent=dry_run)
        return json.loads(data)

    def list_models(self, query=None):
        path = "/api/v1/models" + (f"?q={urllib.parse.quote(query, safe='')}" if query else "")
        return self._json("GET", path)["models"]

    search = list_models

    def get_model(self, name):
        return self._json("GET", f"/api/v1/models/{_quote(name)}")

    def get_card(self, reference):
        """The card of 'name' (latest version), 'name/versions/N' or 'name@alias'."""
        name, version, alias = _parse_ref(reference)
        if version is not None:
            return self._json("GET", f"/api/v1/models/{_quote(name)}/versions/{version}")
        if alias is not None:
            return self._json("GET", f"/api/v1/models/{_quote(name)}@{_quote(alias)}")
        model = self.get_model(name)
        for card in model.get("cards", []):
            if card["version"] == model["latest_version"]:
                return card
        raise MlaasError(0, f"model '{name}' has no card for its latest version")

    def set_alias(self, name, alias, version):
        return self._json("PUT", f"/api/v1/models/{_quote(name)}/aliases/{_quote(alias)}", {"version": int(version)})

    def delete_alias(self, name, alias):
        return self._json("DELETE", f"/api/v1/models/{_quote(name)}/aliases/{_quote(alias)}")

    def set_tag(self, name, key, value, version=None):
        where = f"/api/v1/models/{_quote(name)}" + (f"/versions/{int(version)}" if version else "")
        return self._json("PUT", f"{where}/tags/{_quote(key)}", {"value": str(value)})

    def delete_tag(self, name, key, version=None):
        where = f"/api/v1/models/{_quote(name)}" + (f"/versions/{int(version)}" if version else "")
        return self._json("DELETE", f"{where}/tags/{_quote(key)}")

    def delete_version(self, name, version):
        return self._json("DELETE", f"/api/v1/models/{_quote(name)}/versions/{int(version)}")

    def delete_model(self, name):
        return self._json("DELETE", f"/api/v1/models/{_quote(name)}")

    # ---- Open Inference Protocol -------------------------------------------------------------

    def server_info(self):
        return self._json("GET", "/v2")

    def live(self):
        return self._probe("/v2/health/live")

    def ready(self):
        return self._probe("/v2/health/ready")

    def _probe(self, path):
        try:
            self._request("GET", path, idempotent=False)
            return True
        except MlaasError as error:
            if error.status == 503:
                return False
            raise

    @staticmethod
    def _model_path(reference):
        name, version, alias = _parse_ref(reference)
        path = f"/v2/models/{_quote(name)}" + (f"@{_quote(alias)}" if alias else "")
        return path + (f"/versions/{version}" if version else "")

    def model_metadata(self, reference):
        return self._json("GET", self._model_path(reference))

    def model_ready(self, reference):
        return self._json("GET", self._model_path(reference) + "/ready")["ready"]

    def infer(self, reference, inputs, outputs=None, binary=False, request_id=None):
        """Runs the model on `inputs` (Tensors); binary=True uses the binary tensor extension."""
        header = {"inputs": []}
        if request_id is not None:
            header["id"] = str(request_id)
        blobs = []
        for tensor in inputs:
            if binary:
                blob = tensor.to_bytes()
                blobs.append(blob)
                header["inputs"].append({"name": tensor.name, "datatype": tensor.datatype, "shape": tensor.shape,
                                         "parameters": {"binary_data_size": len(blob)}})
            else:
                header["inputs"].append(tensor.to_json())
        if outputs:
            header["outputs"] = [{"name": name} for name in outputs]
        if binary:
            header["parameters"] = {"binary_data_output": True}
        text = json.dumps(header).encode()
        headers = {"Content-Type": "application/octet-stream" if binary else "application/json"}
        if binary:
            headers["Inference-Header-Content-Length"] = str(len(text))
        _, response_headers, data = self._request("POST", self._model_path(reference) + "/infer",
                                                  text + b"".join(blobs), headers, idempotent=True)
        return _decode_infer(data, response_headers.get("Inference-Header-Content-Length"))

    def repository_index(self, ready_only=False):
        return self._json("POST", "/v2/repository/index", {"ready": bool(ready_only)})

    # ---- raw events --------------------------------------------------------------------------

    def predict_events(self, reference, events):
        """POST /api/v1/models/{ref}/predict-events: `events` is a list of {branch: number or list}
        (None for NaN); the server applies the version's training-time preprocessing. Returns the
        answer: model_name, model_version (the alias resolved), labels, outputs (OIP layout; a NaN
        or infinite output is the string "NaN", "Infinity" or "-Infinity", as JSON cannot hold it)."""
        name, version, alias = _parse_ref(reference)
        path = f"/api/v1/models/{_quote(name)}"
        if alias is not None:
            path += f"@{_quote(alias)}"
        if version is not None:
            path += f"/versions/{version}"
        return self._json("POST", path + "/predict-events", {"events": list(events)}, idempotent=True)

    # ---- TFaaS -------------------------------------------------------------------------------

    def tfaas_predict(self, model, keys, values):
        """POST /json: one row (list of numbers) -> its output row; a list of rows -> list of rows."""
        return self._json("POST", "/json", {"keys": list(keys), "values": values, "model": model})

    def tfaas_image(self, model, image, filename="image"):
        """POST /image: `image` is PNG or JPEG bytes (or a path to such a file). Returns the output
        row (a list of floats) for a model without labels, else {"filename", "labels": [{"label",
        "probability"}, ...]} with the five most probable labels."""
        if not isinstance(image, (bytes, bytearray)):
            filename = os.path.basename(str(image)) if filename == "image" else filename
            with open(image, "rb") as f:
                image = f.read()
        boundary = "mlaas-image-" + os.urandom(8).hex()
        safe = str(filename).replace('"', "_").replace("\r", "_").replace("\n", "_")
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{safe}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + bytes(image) + f"\r\n--{boundary}--\r\n".encode()
        _, _, payload = self._request("POST", "/image", body,
                                      {"Content-Type": f"multipart/form-data; boundary={boundary}"}, idempotent=True)
        return json.loads(payload)

    def tfaas_models(self):
        return self._json("GET", "/models") or []


def _error_message(payload, method, path):
    try:
        body = json.loads(payload)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    except ValueError:
        pass
    text = payload[:500].decode(errors="replace")
    return text or f"{method} {path} failed"


def _decode_infer(data, header_length):
    json_length = len(data) if header_length is None else int(header_length)
    if json_length > len(data):
        raise MlaasError(0, f"Inference-Header-Content-Length {json_length} exceeds the body of {len(data)} bytes")
    try:
        header = json.loads(data[:json_length])
    except ValueError:
        raise MlaasError(0, "inference response is not JSON") from None
    binary = memoryview(data)[json_length:]
    outputs = {}
    for item in header.get("outputs", []):
        size = (item.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if size > len(binary):
                raise MlaasError(0, f"output '{item['name']}': binary_data_size {size} exceeds the {len(binary)} bytes left")
            tensor = Tensor.from_bytes(item["name"], item["datatype"], item["shape"], binary[:size].tobytes())
            binary = binary[size:]
        else:
            data = item["data"]
            if item["datatype"] in ("FP32", "FP64"):
                data = [_NON_FINITE.get(v, v) if isinstance(v, str) else v for v in _flatten(data)]
                bad = [v for v in data if isinstance(v, bool) or not isinstance(v, (int, float))]
                if bad:
                    raise MlaasError(0, f"output '{item['name']}': data element {bad[0]!r} is not a number")
            tensor = Tensor(item["name"], item["datatype"], item["shape"], data)
        outputs[tensor.name] = tensor
    if len(binary):
        raise MlaasError(0, f"{len(binary)} bytes after the last binary output")
    return InferResult(header.get("model_name"), header.get("model_version"), header.get("id"), outputs)
