"""Real Jupyter clients against the gemma-lab kernel (run by test/kernel/jupyter.test.ts).

1. Debian's jupyter_kernel_test suite (message schemas of every reply and iopub message).
2. Our own protocol checks: execute_input/execute_result/error, stop_on_error, magics,
   interrupts of sync and async (training-loop) cells, and Session security (K1-K4 in
   docs/reliability.md, "The notebook kernel").

Needs JUPYTER_PATH pointing at a folder holding kernels/gemma-lab/kernel.json.
"""
import json
import os
import tempfile
import time
import unittest
from queue import Empty

import jupyter_kernel_test
from jupyter_client.manager import start_new_kernel
from jupyter_client.session import Session

TIMEOUT = 60
KERNEL = os.environ.get("GEMMA_LAB_KERNEL_NAME", "gemma-lab")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class GemmaLabKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = KERNEL
    language_name = "typescript"
    file_extension = ".ts"
    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("oops")'
    completion_samples = [{"text": "Math.ab", "matches": {"abs"}}]
    complete_code_samples = ["1", "const x = 1;", "%seed 1", "%%time\nconst y = 2"]
    incomplete_code_samples = ["function f() {", "if (true) {", "const s = `unterminated", "const t = `a ${b} and ${", "/* open comment"]
    code_generate_error = 'throw new RangeError("boom")'
    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": "aq.table({ a: [1, 2] })", "mime": "text/html"},
    ]
    code_display_data = [
        {"code": '$nb.html("<b>hi</b>")', "mime": "text/html"},
        {"code": 'await $nb.chart(plots.barChart([{ k: "a", n: 1 }], "k", "n"))', "mime": "application/vnd.vegalite.v5+json"},
        {"code": 'await $nb.chart(plots.barChart([{ k: "a", n: 1 }], "k", "n"))', "mime": "image/png"},
    ]
    code_inspect_sample = "Math.max"
    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6 [*] 7"


class Client:
    """A started kernel plus helpers that collect the iopub messages of one request."""

    def __init__(self, **kw):
        self.km, self.kc = start_new_kernel(kernel_name=KERNEL, startup_timeout=TIMEOUT, **kw)

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)

    def collect(self, msg_id):
        msgs = []
        while True:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return msgs
            if m["msg_type"] != "status":
                msgs.append(m)

    def wait_for(self, msg_id, wanted):
        """Reads msg_id's iopub messages up to the first one for which wanted(msg) holds."""
        while True:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
            if m["parent_header"].get("msg_id") == msg_id and wanted(m):
                return m

    def reply(self, msg_id):
        while True:
            r = self.kc.get_shell_msg(timeout=TIMEOUT)
            if r["parent_header"].get("msg_id") == msg_id:
                return r

    def run(self, code, **kw):
        msg_id = self.kc.execute(code, **kw)  # user_expressions=... passes through
        return self.reply(msg_id)["content"], self.collect(msg_id)


def stdout_of(msgs):
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")


def of_type(msgs, t):
    return [m for m in msgs if m["msg_type"] == t]


def result_of(msgs):
    return of_type(msgs, "execute_result")[0]["content"]["data"]["text/plain"]


class KernelCase(unittest.TestCase):
    """One gemma-lab kernel (self.c) per test class, started in `cwd`, shut down after the class."""

    cwd = None

    @classmethod
    def setUpClass(cls):
        cls.c = Client() if cls.cwd is None else Client(cwd=cls.cwd)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()


class GemmaLabProtocol(KernelCase):
    def test_kernel_info_reply(self):
        self.c.kc.kernel_info()
        r = self.c.kc.get_shell_msg(timeout=TIMEOUT)
        self.assertEqual(r["content"]["status"], "ok")
        self.assertEqual(r["content"]["implementation"], "gemma-lab")
        self.assertEqual(r["content"]["language_info"]["version"], "5.0.4")

    def test_execute_input_result_counts(self):
        reply, msgs = self.c.run("const answer = 40 + 2;\nanswer")
        self.assertEqual(reply["status"], "ok")
        [inp] = of_type(msgs, "execute_input")
        [res] = of_type(msgs, "execute_result")
        self.assertEqual(inp["content"]["execution_count"], reply["execution_count"])
        self.assertEqual(res["content"]["execution_count"], reply["execution_count"])
        self.assertEqual(res["content"]["data"]["text/plain"], "42")
        reply2, _ = self.c.run("answer + 1")
        self.assertEqual(reply2["execution_count"], reply["execution_count"] + 1)

    def test_runtime_and_type_errors(self):
        reply, msgs = self.c.run('const kept = 5;\nthrow new RangeError("bad value")')
        self.assertEqual((reply["status"], reply["ename"], reply["evalue"]), ("error", "RangeError", "bad value"))
        [err] = of_type(msgs, "error")
        self.assertEqual(err["content"]["ename"], "RangeError")
        self.assertTrue(any("RangeError: bad value" in line for line in err["content"]["traceback"]))
        reply, msgs = self.c.run("const s: string = 1")
        self.assertEqual(reply["ename"], "TSError")
        self.assertIn("not assignable to type 'string'", reply["evalue"])
        # A rejected promise is an error too, and the kernel stays usable.
        reply, _ = self.c.run('await Promise.reject(new TypeError("async bad"))')
        self.assertEqual((reply["ename"], reply["evalue"]), ("TypeError", "async bad"))
        reply, msgs = self.c.run("1 + 1")
        self.assertEqual(result_of(msgs), "2")

    def test_stop_on_error(self):
        kc = self.c.kc
        # Queued behind a failing cell: aborted with stop_on_error (default), run without it.
        ids = [kc.execute('throw new Error("first")'), kc.execute("const afterError = 1"), kc.execute("2")]
        statuses = [self.c.reply(i)["content"]["status"] for i in ids]
        for i in ids:
            self.c.collect(i)
        self.assertEqual(statuses, ["error", "aborted", "aborted"])
        ids = [kc.execute('throw new Error("first")', stop_on_error=False), kc.execute("3"), kc.execute("4")]
        statuses = [self.c.reply(i)["content"]["status"] for i in ids]
        for i in ids:
            self.c.collect(i)
        self.assertEqual(statuses, ["error", "ok", "ok"])

    def test_magics(self):
        reply, msgs = self.c.run("%lsmagic")
        out = stdout_of(msgs)
        for name in ("%time", "%backend", "%seed", "%load_model", "%lsmagic", "%%time"):
            self.assertIn(name, out)
        reply, msgs = self.c.run("%%time\nconst timed = 21 * 2;")
        self.assertEqual(reply["status"], "ok")
        self.assertRegex(stdout_of(msgs), r"Wall time: [\d.]+ (ms|s)")
        reply, msgs = self.c.run("timed")  # declarations inside %%time persist
        self.assertEqual(result_of(msgs), "42")
        reply, msgs = self.c.run("%time const t2 = timed + 1\nt2")
        self.assertRegex(stdout_of(msgs), r"Wall time")
        self.assertEqual(result_of(msgs), "43")
        draws = []
        for _ in range(2):
            _, msgs = self.c.run("%seed 7\n[$nb.rng.next(), Math.random()]")
            draws.append(result_of(msgs))
        self.assertEqual(draws[0], draws[1])
        _, msgs = self.c.run("%seed 8\n[$nb.rng.next(), Math.random()]")
        self.assertNotEqual(result_of(msgs), draws[0])
        reply, msgs = self.c.run("%backend cpu\ntf.getBackend()")
        self.assertIn("backend: cpu", stdout_of(msgs))
        self.assertEqual(result_of(msgs), "'cpu'")
        reply, _ = self.c.run("%%nosuch\n1")
        self.assertEqual((reply["ename"], reply["evalue"]), ("UsageError", "Cell magic %%nosuch not found (%lsmagic lists them)"))
        reply, _ = self.c.run("%seed 1.5")
        self.assertEqual(reply["ename"], "UsageError")
        reply, _ = self.c.run("%seed abc")  # a notebook variable, as in IPython's $abc
        self.assertEqual((reply["ename"], reply["evalue"]), ("TSError", "1:10 - Cannot find name 'abc'."))
        reply, _ = self.c.run("%nosuch")  # not a registered magic: stays TypeScript (a syntax error)
        self.assertEqual(reply["ename"], "TSError")
        reply, msgs = self.c.run("const m3 = 7;\nconst r3 = 10\n% m3\nr3")  # '%' continuing a line is modulo
        self.assertEqual(result_of(msgs), "3")

    def test_load_model_magic(self):
        fixture = os.path.join(os.environ["GEMMA_LAB_SHARED_DIR"], "fixtures", "gemma2-tiny")
        if not os.path.isdir(fixture):
            self.skipTest(f"{fixture} missing")
        reply, msgs = self.c.run(f"%load_model tiny {fixture}\ntiny.config.modelType")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertIn("loaded gemma2", stdout_of(msgs))
        self.assertEqual(result_of(msgs), "'gemma2'")
        reply, _ = self.c.run("%load_model bad /nonexistent/checkpoint")
        self.assertEqual(reply["ename"], "CheckpointError")
        self.assertIn("/nonexistent/checkpoint", reply["evalue"])

    def test_comm_info_reply(self):
        msg = self.c.kc.session.msg("comm_info_request", {})
        self.c.kc.shell_channel.send(msg)
        r = self.c.reply(msg["header"]["msg_id"])
        self.assertEqual(r["msg_type"], "comm_info_reply")


class GemmaLabPolish(KernelCase):
    """What analysts hit in the first hour, on a kernel whose notebook folder is outside the checkout."""

    @classmethod
    def setUpClass(cls):
        cls.cwd = tempfile.mkdtemp(prefix="gemma-lab-elsewhere-")
        super().setUpClass()

    def test_tables_type_check_outside_the_checkout(self):
        reply, msgs = self.c.run("const rows = [{ a: 1 }, { a: 2 }];\nconst t = aq.from(rows);\nt.numRows()")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(result_of(msgs), "2")
        reply, msgs = self.c.run("process.cwd()")
        self.assertEqual(result_of(msgs), repr(self.cwd).replace('"', "'"))

    def test_package_import_by_name_is_the_kernels_own_copy(self):
        reply, msgs = self.c.run("import { GemmaModel, loadTokenizer } from 'gemma-lab';\nconst gl = await $nb.lib();\n[GemmaModel === gl.GemmaModel, loadTokenizer === gl.loadTokenizer]")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(result_of(msgs), "[ true, true ]")

    def test_time_magic_out(self):
        reply, msgs = self.c.run("%time 1 + 1")
        self.assertRegex(stdout_of(msgs), r"Wall time: [\d.]+ (ms|s)")
        self.assertEqual(result_of(msgs), "2")
        reply, msgs = self.c.run("%time const timedX = 5")
        self.assertRegex(stdout_of(msgs), r"Wall time")
        self.assertEqual(of_type(msgs, "execute_result"), [])
        reply, msgs = self.c.run("timedX")
        self.assertEqual(result_of(msgs), "5")

    def test_stop_on_error_race_50_runs(self):
        """Run All: a fast failing cell with three cells queued behind it, 50 times. The four
        requests are made at once (as JupyterLab's Run All does); even runs send them back to back,
        odd runs deliver the three only after the error reply came back, as a slow network would.
        Either way they were sent before the client saw the error, so they are aborted; a request
        made after the error reply arrived runs."""
        kc = self.c.kc

        def request(code):
            content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
            return kc.session.msg("execute_request", content)

        misses = []
        for i in range(50):
            msgs = [request('throw new Error("fast failure")')] + [request(f"const raced{i}_{k} = {k}") for k in range(3)]
            ids = [m["header"]["msg_id"] for m in msgs]
            if i % 2 == 0:
                for m in msgs:
                    kc.shell_channel.send(m)
                statuses = [self.c.reply(m)["content"]["status"] for m in ids]
            else:
                kc.shell_channel.send(msgs[0])
                statuses = [self.c.reply(ids[0])["content"]["status"]]
                for m in msgs[1:]:
                    kc.shell_channel.send(m)
                statuses += [self.c.reply(m)["content"]["status"] for m in ids[1:]]
            for m in ids:
                self.c.collect(m)
            if statuses != ["error", "aborted", "aborted", "aborted"]:
                misses.append((i, statuses))
            if i % 10 == 9:
                # Made after the error reply arrived: runs.
                reply, out = self.c.run(f"{i} + 1")
                if (reply["status"], result_of(out)) != ("ok", str(i + 1)):
                    misses.append((i, "a request after the error did not run", reply["status"]))
        self.assertEqual(misses, [], f"{len(misses)} of 50 runs went wrong")

    def test_tracebacks_name_cell_lines(self):
        reply, msgs = self.c.run("type Num = number;\nconst z: Num = 0;\nif (z === 0) {\n  throw new TypeError(`zero ${z}`);\n}")
        n = reply["execution_count"]
        [err] = of_type(msgs, "error")
        tb = err["content"]["traceback"]
        self.assertEqual(tb[0], "TypeError: zero 0")
        self.assertIn(f"    at In [{n}]:4:9", tb)
        self.assertEqual(tb[-1], f"In [{n}], line 4:\n    throw new TypeError(`zero ${{z}}`);")
        # A function from an earlier cell names its own cell and line; internal frames are gone.
        reply, _ = self.c.run("function failing() {\n  const y = 1;\n\n  throw new RangeError('boom ' + y);\n}")
        m = reply["execution_count"]
        reply, msgs = self.c.run("const before = 1;\nfailing()")
        tb = "\n".join(of_type(msgs, "error")[0]["content"]["traceback"])
        self.assertIn(f"at failing (In [{m}]:4:9)", tb)
        self.assertIn(f"at In [{m + 1}]:2:1", tb)
        for internal in ("evalmachine", "AsyncLocalStorage", "src/cli", "src/kernel", "node:", "tslab"):
            self.assertNotIn(internal, tb)

    def test_user_expressions(self):
        reply, _ = self.c.run("const ue = 20;", user_expressions={"double": "ue * 2", "table": "aq.table({ x: [ue] })", "bad": "nosuchName"})
        ue = reply["user_expressions"]
        self.assertEqual(ue["double"], {"status": "ok", "data": {"text/plain": "40"}, "metadata": {}})
        self.assertIn("text/html", ue["table"]["data"])
        self.assertEqual((ue["bad"]["status"], ue["bad"]["ename"]), ("error", "TSError"))
        self.assertIn("Cannot find name 'nosuchName'", ue["bad"]["evalue"])

    def test_history_after_start(self):
        self.c.run("const historyMarker = 'hm';")
        msg_id = self.c.kc.history(hist_access_type="search", pattern="*historyMarker*", output=False, raw=True)
        reply = self.c.reply(msg_id)
        self.assertEqual(reply["msg_type"], "history_reply")
        self.assertEqual([h[2] for h in reply["content"]["history"]], ["const historyMarker = 'hm';"])

    def test_stock_tslab_display_and_shorthand(self):
        reply, msgs = self.c.run("import * as tslab from 'tslab';\ntslab.display.html('<b>from tslab</b>')")
        self.assertEqual(reply["status"], "ok", reply)
        [d] = of_type(msgs, "display_data")
        self.assertEqual(d["content"]["data"]["text/html"], "<b>from tslab</b>")
        self.c.run("const shortSeed = 4;")
        reply, msgs = self.c.run("({ shortSeed, other: 1 })")
        self.assertEqual(result_of(msgs), "{ shortSeed: 4, other: 1 }")

    def test_magics_take_notebook_values_and_load_model_is_typed(self):
        self.c.run("const seedParam = 11;")
        _, msgs = self.c.run("%seed $seedParam\n$nb.lastSeed")
        self.assertEqual(result_of(msgs), "11")
        _, msgs = self.c.run("%seed {seedParam + 1}\n$nb.lastSeed")
        self.assertEqual(result_of(msgs), "12")
        fixture = os.path.join(os.environ["GEMMA_LAB_SHARED_DIR"], "fixtures", "gemma2-tiny")
        if not os.path.isdir(fixture):
            self.skipTest(f"{fixture} missing")
        self.c.run(f"const fixtureDir = {json.dumps(fixture)};")
        # No narrowing: the magic's variable is a GemmaModel for the type checker.
        reply, msgs = self.c.run("%load_model typedTiny $fixtureDir\nconst g: lib.GemmaModel = typedTiny;\ng.config.hiddenSize")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(result_of(msgs), "64")
        reply, _ = self.c.run("%load_model wrongKind $fixtureDir --kind t5gemma")
        self.assertEqual(reply["ename"], "ConfigError")
        self.assertIn("--kind gemma", reply["evalue"])

    def test_lib_tokenizer_helpers(self):
        model = os.path.join(REPO, "data", "models", "tiny-gemma-pretrained")
        reply, msgs = self.c.run(
            f"const glt = await $nb.lib();\nconst tok = glt.loadTokenizer({json.dumps(model)});\n"
            "const ex = glt.exampleTokenizer(tok, 16);\n[tok.decode(tok.encode('the news')), ex.encode(['a', 'b'])[0] === tok.bosId, (({ batch, length }) => [batch, length])(glt.encodeBatch(tok, ['x y', 'x'], { maxLength: 8 }))]"
        )
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(result_of(msgs), "[ 'the news', true, [ 2, 3 ] ]")


class GemmaLabInterrupts(KernelCase):
    def interrupt_after(self, msg_id, printed):
        """Interrupts the running cell once it has printed `printed`; the cell must end in an error (returned)."""
        # Interrupt the loop, not the cell's compile (seconds on a loaded machine; a SIGINT then is
        # lost: tslab's breakOnSigint run drops a pending signal). ZMQ's thread sends the line meanwhile.
        self.c.wait_for(msg_id, lambda m: m["msg_type"] == "stream" and printed in m["content"]["text"])
        time.sleep(1.5)
        self.c.km.interrupt_kernel()
        reply = self.c.reply(msg_id)["content"]
        self.c.collect(msg_id)
        self.assertEqual(reply["status"], "error")
        return reply

    def test_interrupt_sync_loop(self):
        self.c.run("const before = 1;")
        msg_id = self.c.kc.execute('console.log("spinning");\nwhile (true) {}')
        self.assertIn("interrupted", self.interrupt_after(msg_id, "spinning")["evalue"].lower())
        reply, msgs = self.c.run("before + 1")
        self.assertEqual(result_of(msgs), "2")

    def test_interrupt_stops_async_training_loop(self):
        # A loop in the style of our trainers: one step per tick, checks $nb.signal between steps.
        self.c.run("const state = { steps: 0, stopped: '' };")
        msg_id = self.c.kc.execute(
            # (`await (async () => …)()` would parse as a call of a function named await in tslab)
            "const loop = (async () => {\n"
            "  try {\n"
            "    for (;;) { $nb.throwIfAborted(state.steps); if (state.steps === 1) console.log('looping'); await new Promise((r) => setTimeout(r, 10)); state.steps++; }\n"
            "  } catch (e) { state.stopped = (e as Error).name; throw e; }\n"
            "})();\n"
            "await loop;"
        )
        self.interrupt_after(msg_id, "looping")
        _, msgs = self.c.run("await new Promise((r) => setTimeout(r, 100)); [state.steps, state.stopped]")
        first = result_of(msgs)
        _, msgs = self.c.run("await new Promise((r) => setTimeout(r, 300)); [state.steps, state.stopped]")
        second = result_of(msgs)
        self.assertEqual(first, second, "the loop kept stepping after the interrupt")
        self.assertIn("'AbortedError'", first)
        # A fresh signal for later cells: new work is not born aborted.
        _, msgs = self.c.run("$nb.signal.aborted")
        self.assertEqual(result_of(msgs), "false")


class GemmaLabSecurity(KernelCase):
    """Unsigned, wrongly signed, replayed and malformed frames are dropped; valid traffic still works."""

    def assert_no_reply(self, msg_id):
        deadline = time.time() + 1.5
        while time.time() < deadline:
            try:
                r = self.c.kc.get_shell_msg(timeout=0.2)
            except Empty:
                continue
            self.assertNotEqual(r["parent_header"].get("msg_id"), msg_id, "kernel answered a bad message")

    def test_bad_messages_are_dropped(self):
        kc = self.c.kc
        sock = kc.shell_channel.socket
        self.c.run("const counter = { n: 0 };")
        code = {"code": "counter.n++", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        for key in (b"", b"wrong key"):
            bad = Session(key=key, username=kc.session.username)
            msg = bad.msg("execute_request", code)
            bad.send(sock, msg)
            self.assert_no_reply(msg["header"]["msg_id"])
        sock.send_multipart([b"<IDS|MSG>", b"00", b"{not json", b"{}", b"{}", b"{}"])
        sock.send_multipart([b"no delimiter at all"])
        # A correctly signed frame set that is not JSON is dropped without killing the kernel.
        frames = [b"{not json", b"{}", b"{}", b"{}"]
        sock.send_multipart([b"<IDS|MSG>", kc.session.sign(frames)] + frames)
        # Replay: the same signed frames twice run once.
        msg = kc.session.msg("execute_request", code)
        to_send = kc.session.serialize(msg)
        sock.send_multipart(to_send)
        self.c.reply(msg["header"]["msg_id"])
        sock.send_multipart(to_send)
        self.assert_no_reply(msg["header"]["msg_id"])
        _, msgs = self.c.run("counter.n")
        self.assertEqual(result_of(msgs), "1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
