"""Tests of mlaas_client against the real `mlaas serve`.

Run by tests/client (gtest) with MLAAS_TEST_SERVER, MLAAS_TEST_TOKEN, MLAAS_TEST_MODEL and
MLAAS_TEST_EXPECTED (inputs and ONNX Runtime outputs computed in C++). Run by hand
(`python3 -m unittest test_mlaas_client` in python/), it starts a server itself from
MLAAS_BIN_DIR (default ../build/bin) and checks consistency only.
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import mlaas_client
from mlaas_client import Client, MlaasError, Tensor

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = {}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setUpModule():
    if os.environ.get("MLAAS_TEST_SERVER"):
        STATE.update(url=os.environ["MLAAS_TEST_SERVER"], token=os.environ["MLAAS_TEST_TOKEN"],
                     model=os.environ["MLAAS_TEST_MODEL"], expected=os.environ.get("MLAAS_TEST_EXPECTED"))
        return
    binary = os.path.join(os.environ.get("MLAAS_BIN_DIR", os.path.join(HERE, "..", "build", "bin")), "mlaas")
    if not os.path.exists(binary):
        raise unittest.SkipTest(f"no server: set MLAAS_TEST_SERVER or build {binary}")
    tmp = tempfile.mkdtemp(prefix="mlaas-python-")
    token = "python-test-token"
    with open(os.path.join(tmp, "tokens"), "w") as f:
        f.write(token + "\n")
    model = os.path.join(tmp, "model.onnx")
    subprocess.run([binary, "model", "mlp", "--layers", "42,64,1", "--seed", "5", "--out", model], check=True,
                   stdout=subprocess.DEVNULL)
    port = _free_port()
    log = open(os.path.join(tmp, "serve.log"), "w")
    process = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                os.path.join(tmp, "data"), "--token-file", os.path.join(tmp, "tokens")],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    STATE.update(url=f"http://127.0.0.1:{port}", token=token, model=model, expected=None, process=process,
                 tmp=tmp, log=log)


def tearDownModule():
    process = STATE.get("process")
    if process:
        process.terminate()
        process.wait(timeout=30)
        STATE["log"].close()
        shutil.rmtree(STATE["tmp"], ignore_errors=True)


def _features(rows, phase):
    return [[((phase * 7 + r * 42 + i) % 13) / 6.5 - 1.0 for i in range(42)] for r in range(rows)]


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.client = Client(STATE["url"], token=STATE["token"], retries=2, backoff=0.01)
        self.name = f"py-{self._testMethodName[5:][:40].replace('_', '-')}"
        for model in self.client.list_models():
            if model["name"] == self.name:
                self.client.delete_model(self.name)

    def tearDown(self):
        self.client.close()

    def test_upload_list_show_alias_tag_delete(self):
        card = self.client.upload(self.name, STATE["model"], {"description": "from python", "tags": {"stage": "dev"},
                                                              "metrics": {"auc": 0.8}})
        self.assertEqual(card["version"], 1)
        self.assertEqual(card["description"], "from python")
        self.assertEqual(card["inputs"][0]["shape"], [-1, 42])
        with open(STATE["model"], "rb") as f:
            big = {"preprocessing": {f"f{i}": {"mean": i, "std": 1.0} for i in range(300)}}
            second = self.client.upload(self.name, f.read(), big)  # multipart path
        self.assertEqual(second["version"], 2)
        self.assertEqual(second["preprocessing"], big["preprocessing"])

        names = [m["name"] for m in self.client.list_models()]
        self.assertIn(self.name, names)
        found = self.client.search(f"name:{self.name} tag:stage=dev")
        self.assertEqual([m["name"] for m in found], [self.name])

        self.assertEqual(self.client.set_alias(self.name, "production", 1)["version"], 1)
        self.assertEqual(self.client.get_card(f"{self.name}@production")["version"], 1)
        self.assertEqual(self.client.get_card(self.name)["version"], 2)
        self.assertEqual(self.client.get_card(f"{self.name}/versions/2")["sha256"], card["sha256"])
        self.client.set_tag(self.name, "owner", "cms")
        self.client.set_tag(self.name, "validated", "yes", version=2)
        model = self.client.get_model(self.name)
        self.assertEqual(model["tags"]["owner"], "cms")
        self.assertEqual(model["cards"][1]["tags"]["validated"], "yes")
        self.client.delete_tag(self.name, "validated", version=2)
        self.client.delete_alias(self.name, "production")
        with self.assertRaises(MlaasError) as missing:
            self.client.get_card(f"{self.name}@production")
        self.assertEqual(missing.exception.status, 404)
        self.assertIn("production", missing.exception.message)
        self.client.delete_version(self.name, 1)
        self.assertEqual(self.client.get_model(self.name)["versions"], [2])
        self.client.delete_model(self.name)
        with self.assertRaises(MlaasError) as gone:
            self.client.get_model(self.name)
        self.assertEqual(gone.exception.status, 404)

    def test_check_upload_is_a_dry_run_that_stores_nothing(self):
        name = self.name + "_dry"
        first = self.client.check_upload(name)
        self.assertEqual(first, {"dry_run": True, "name": name, "version": 1, "model_checked": False})
        self.assertTrue(self.client.check_upload(name, STATE["model"])["model_checked"])
        self.assertNotIn(name, [m["name"] for m in self.client.list_models()])
        with self.assertRaises(MlaasError) as bad:
            self.client.check_upload(name, b"not an onnx model")
        self.assertEqual(bad.exception.status, 400)
        self.client.upload(name, STATE["model"])
        self.assertEqual(self.client.check_upload(name)["version"], 2)
        self.client.delete_model(name)

    def test_infer_json_and_binary_agree_with_reference(self):
        self.client.upload(self.name, STATE["model"])
        if STATE.get("expected"):
            with open(STATE["expected"]) as f:
                expected = json.load(f)
            rows, values, reference = expected["rows"], expected["input"], expected["output"]
        else:
            rows, values, reference = 5, _features(5, 1), None
        tensor = Tensor("input", "FP32", [rows, 42], values)
        as_json = self.client.infer(self.name, [tensor], request_id="p1")
        as_binary = self.client.infer(self.name, [tensor], outputs=["output"], binary=True)
        self.assertEqual(as_json.id, "p1")
        self.assertEqual(as_json.model_version, "1")
        out_json = as_json.outputs["output"]
        out_binary = as_binary.outputs["output"]
        self.assertEqual(out_json.shape, [rows, 1])
        self.assertEqual(out_binary.shape, [rows, 1])
        for a, b in zip(out_json.data, out_binary.data):
            self.assertAlmostEqual(a, b, places=6)
        if reference is not None:  # ONNX Runtime in C++ on the same model bytes
            for got, want in zip(out_binary.data, reference):
                self.assertAlmostEqual(got, want, delta=1e-6)
        tfaas = self.client.tfaas_predict(self.name, [f"f{i}" for i in range(42)], tensor.data[:42])
        self.assertAlmostEqual(tfaas[0], out_binary.data[0], places=5)
        self.assertIn(self.name, [m["name"] for m in self.client.tfaas_models()])

    def test_oip_metadata_and_health(self):
        self.client.upload(self.name, STATE["model"])
        self.assertTrue(self.client.live())
        self.assertTrue(self.client.ready())
        self.assertIn("binary_tensor_data", self.client.server_info()["extensions"])
        metadata = self.client.model_metadata(self.name)
        self.assertEqual(metadata["inputs"][0]["name"], "input")
        self.assertTrue(self.client.model_ready(f"{self.name}/versions/1"))
        self.assertIn(self.name, [e["name"] for e in self.client.repository_index()])

    def test_errors_carry_status_and_message(self):
        with Client(STATE["url"], token="", retries=0) as anonymous, self.assertRaises(MlaasError) as no_token:
            anonymous.upload(self.name, STATE["model"])
        self.assertEqual(no_token.exception.status, 401)
        with Client(STATE["url"], token="wrong", retries=0) as wrong_token, self.assertRaises(MlaasError) as wrong:
            wrong_token.delete_model("anything")
        self.assertEqual(wrong.exception.status, 403)
        with self.assertRaises(MlaasError) as garbage:
            self.client.upload(self.name, b"not onnx")
        self.assertEqual(garbage.exception.status, 400)
        with self.assertRaises(MlaasError) as unknown:
            self.client.infer("ghost-model", [Tensor("input", "FP32", [1, 42], [0.0] * 42)])
        self.assertEqual(unknown.exception.status, 404)
        self.assertIn("ghost-model", unknown.exception.message)
        self.client.upload(self.name, STATE["model"])
        with self.assertRaises(MlaasError) as shape:
            self.client.infer(self.name, [Tensor("input", "FP32", [1, 3], [0.0] * 3)], binary=True)
        self.assertEqual(shape.exception.status, 400)
        with self.assertRaises(ValueError):
            Tensor("input", "FP32", [2, 42], [0.0] * 42)
        with self.assertRaises(ValueError):
            self.client.get_card("name@")
        with self.assertRaises(ValueError):
            Client("ftp://example.org")
        with self.assertRaises(ValueError):
            Client("https://example.org", ca_file="/nonexistent/ca.pem")
        port = _free_port()
        with self.assertRaises(MlaasError) as refused:
            Client(f"http://127.0.0.1:{port}", retries=1, backoff=0.001).list_models()
        self.assertEqual(refused.exception.status, 0)

    def test_keep_alive_and_threads(self):
        client = Client(STATE["url"], token=STATE["token"])
        self.addCleanup(client.close)
        for _ in range(10):
            client.list_models()
        self.assertEqual(client.connections_opened, 1)
        errors = []

        def work():
            try:
                for _ in range(10):
                    client.live()
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertLessEqual(client.connections_opened, 5)

    def test_binary_codec_round_trips_every_type(self):
        cases = [("FP32", [1.5, -2.25]), ("FP64", [0.1, 1e300]), ("INT64", [-(2 ** 63), 2 ** 63 - 1]),
                 ("INT32", [-7, 7]), ("UINT8", [0, 255]), ("INT8", [-128, 127]), ("BOOL", [True, False]),
                 ("BYTES", [b"jet", b"a\0b"])]
        for datatype, data in cases:
            tensor = Tensor("x", datatype, [2], data)
            back = Tensor.from_bytes("x", datatype, [2], tensor.to_bytes())
            self.assertEqual(back.data, data, datatype)
        with self.assertRaises(MlaasError):
            mlaas_client._decode_infer(b'{"outputs":[]}', 100)
        header = b'{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}'
        with self.assertRaises(MlaasError) as overrun:
            mlaas_client._decode_infer(header + b"1234", len(header))
        self.assertIn("exceeds the 4 bytes left", str(overrun.exception))


class LocalTest(unittest.TestCase):
    """What needs no model server: the JSON rule for NaN and infinity, early answers."""

    def test_json_mode_refuses_non_finite_inputs_as_the_cpp_client_does(self):
        # json.dumps would write a bare NaN, which the server refuses as malformed JSON.
        for value in (float("nan"), float("inf"), -float("inf")):
            with self.assertRaises(MlaasError) as refused:
                Tensor("x", "FP32", [3], [1.0, 2.0, value]).to_json()
            self.assertEqual(refused.exception.status, 0)
            self.assertEqual(refused.exception.message,
                             "tensor 'x': element 2 is not finite (JSON cannot carry it; use binary)")
        self.assertEqual(Tensor("x", "FP64", [1], [0.5]).to_json()["data"], [0.5])

    def test_non_finite_outputs_decode_from_the_servers_strings(self):
        body = (b'{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[4],'
                b'"data":["NaN","Infinity","-Infinity",0.5]}]}')
        data = mlaas_client._decode_infer(body, None).outputs["y"].data
        self.assertTrue(data[0] != data[0])
        self.assertEqual(data[1:], [float("inf"), -float("inf"), 0.5])
        with self.assertRaises(MlaasError) as bad:
            mlaas_client._decode_infer(body.replace(b'"NaN"', b'"nan"'), None)
        self.assertIn("'nan' is not a number", str(bad.exception))

    def test_an_early_answer_to_an_upload_is_reported_not_the_broken_pipe(self):
        # A server refusing a body over its limit answers 413 from the head and stops reading.
        message = b'{"error":"request body larger than the limit of 4096 bytes"}'
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve():
            connection, _ = listener.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                head += chunk
            connection.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                               b"Content-Length: " + str(len(message)).encode() + b"\r\nConnection: close\r\n\r\n"
                               + message)
            connection.close()

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            client = Client(f"http://127.0.0.1:{listener.getsockname()[1]}", retries=0)
            with self.assertRaises(MlaasError) as refused:
                client.upload("huge", b"x" * (64 << 20))
            self.assertEqual(refused.exception.status, 413, refused.exception)
            self.assertIn("larger than the limit of 4096 bytes", refused.exception.message)
        finally:
            thread.join()
            listener.close()


if __name__ == "__main__":
    unittest.main()
