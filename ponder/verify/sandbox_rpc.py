"""Assert-mode tests judged in a process of their own (see :mod:`ponder.verify.sandbox`).

In assert mode the test code (``assert f(1) == 42``, HumanEval's ``check(candidate)``) never runs in the
program's interpreter. A *judge* process, forked from the supervisor with a pristine interpreter and made
non-dumpable (the program cannot read or write its memory, its files or its descriptors), runs the test code
(:mod:`sandbox_judge`; it serves the worker's assert-mode programs one after the other);
the program's names are proxies there. Calling one sends the arguments to the program's process, which calls
the real function and sends back the result as plain data: ``None``, bools, ints of any size, floats, strings,
bytes, complex, and lists, tuples, sets, frozensets, dicts and ranges of those, each rebuilt as the exact
built-in type (subclasses are read through their base type). Anything else stays in the program as a handle:
a proxy whose attributes and methods are again remote, and which compares equal only to itself. So nothing
the program does -- replacing builtins, ``exec`` or ``AssertionError``, a lying ``__eq__``, ``sys.exit`` or
``os._exit`` in the middle, forging a report -- reaches the comparisons or the verdict.

What this costs: arguments must be plain data (a test cannot pass a function of its own to the program), and
arguments mutated by the program are not seen by the test (tests compare return values).

Wire format: a 4-byte length and JSON per message over a stream socket. Standard library only.
"""

from __future__ import annotations

import builtins
import json
import socket
import struct
import sys

MAX_DEPTH = 200
_INT_BITS = 3000  # ints past this go as hex text: JSON's decimal form has a digit limit


class ProgramError(BaseException):
    """The program failed in a way the test code may not catch (it exited, died, or sent garbage)."""


class CompileFailed(ProgramError):
    """The program does not compile (as its process reports: a lie here only makes it fail)."""


# --------------------------------------------------------------------------- plain values


def encode(v, handles: list, depth: int = 0):
    """A JSON-ready form of ``v``; objects that are not plain data go into ``handles``."""
    if depth > MAX_DEPTH:
        raise ValueError("the value nests deeper than 200 levels")
    d = depth + 1
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        n = int.__index__(v)
        return n if n.bit_length() <= _INT_BITS else {"i": hex(n)}
    if isinstance(v, float):
        return {"f": float.hex(float.__float__(v))}  # exact, NaN and infinities included
    if isinstance(v, str):
        return str.__str__(v)  # JSON escapes lone surrogates and reads them back
    if isinstance(v, bytes | bytearray):
        return {"b": bytes(v).hex(), "m": isinstance(v, bytearray)}
    if isinstance(v, complex):
        return {"c": [float.hex(complex.__complex__(v).real), float.hex(complex.__complex__(v).imag)]}
    if isinstance(v, list):
        return [encode(x, handles, d) for x in list.__iter__(v)]
    if isinstance(v, tuple):
        return {"t": [encode(x, handles, d) for x in tuple.__iter__(v)]}
    if isinstance(v, frozenset | set):
        kind = "fs" if isinstance(v, frozenset) else "s"
        it = frozenset.__iter__(v) if kind == "fs" else set.__iter__(v)
        return {kind: [encode(x, handles, d) for x in it]}
    if isinstance(v, dict):
        return {"d": [[encode(k, handles, d), encode(x, handles, d)] for k, x in dict.items(v)]}
    if isinstance(v, range):
        return {"r": [v.start, v.stop, v.step]}
    handles.append(v)
    return {"h": len(handles) - 1, "type": type(v).__name__[:100]}


def decode(obj, remote, depth: int = 0):
    """Rebuild a value from :func:`encode`'s form; ``remote(handle, type_name)`` makes a proxy. Raises
    ValueError for anything malformed."""
    if depth > MAX_DEPTH:
        raise ValueError("the value nests too deeply")
    d = depth + 1
    if obj is None or isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, list):
        return [decode(x, remote, d) for x in obj]
    if not isinstance(obj, dict) or len(obj) not in (1, 2):
        raise ValueError("malformed value")
    tag = next(iter(obj))
    x = obj[tag]
    try:
        if tag == "i":
            return int(x, 16)
        if tag == "f":
            return float.fromhex(x)
        if tag == "b":
            return (bytearray if obj.get("m") is True else bytes)(bytes.fromhex(x))
        if tag == "c":
            return complex(float.fromhex(x[0]), float.fromhex(x[1]))
        if tag == "t":
            return tuple(decode(y, remote, d) for y in x)
        if tag in ("s", "fs"):
            return (set if tag == "s" else frozenset)(decode(y, remote, d) for y in x)
        if tag == "d":
            return {decode(k, remote, d): decode(y, remote, d) for k, y in x}
        if tag == "r":
            return range(*(int.__index__(a) for a in x))
        if tag == "h" and type(x) is int:
            return remote(x, str(obj.get("type", "object"))[:100])
    except (TypeError, ValueError, IndexError, AttributeError) as e:
        raise ValueError(f"malformed value: {e}") from None
    raise ValueError("malformed value")


# --------------------------------------------------------------------------- framing


def send(sock: socket.socket, obj) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)


def recv(sock: socket.socket, cap: int):
    """One message, or raises ProgramError (closed, oversized, not JSON)."""
    head = _exact(sock, 4)
    (n,) = struct.unpack(">I", head)
    if n > cap:
        raise ProgramError(f"the program sent {n} bytes, more than {cap}")
    try:
        return json.loads(_exact(sock, n))
    except (ValueError, RecursionError) as e:
        raise ProgramError(f"the program sent a malformed message ({type(e).__name__})") from None


def _exact(sock: socket.socket, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ProgramError("the program exited before the test finished")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


# --------------------------------------------------------------------------- the program's side


def serve_program(code, fresh_main, rpc: socket.socket, cap: int, compile_error: str | None = None) -> dict:
    """Run in the program's process for one test: load the program, answer calls until the judge says
    "end". Returns the child's result ({"status": "ok"}; the verdict is the judge's)."""
    handles: list = []
    while True:
        msg = recv(rpc, cap)
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "end":
            return {"status": "ok"}
        try:
            if compile_error is not None:
                reply = {"compile_error": compile_error}
            elif op == "load":
                handles.clear()
                g = fresh_main()
                exec(code, g)
                names = {k: v for k, v in g.items() if isinstance(k, str) and not k.startswith("__")}
                reply = {"names": {k: _encode_name(v, handles) for k, v in names.items()}}
            elif op == "call":
                args = [decode(a, handles.__getitem__) for a in msg["args"]]
                kwargs = {str(k): decode(a, handles.__getitem__) for k, a in msg["kwargs"].items()}
                reply = {"ok": encode(handles[msg["h"]](*args, **kwargs), handles)}
            elif op == "attr":
                reply = {"ok": encode(getattr(handles[msg["h"]], str(msg["name"])), handles)}
            else:
                reply = {"err": "ProgramError", "msg": f"unknown request {op!r}", "builtin": False}
        except SystemExit as e:
            reply = {"exit": e.code if isinstance(e.code, int) else 1}
        except BaseException as e:  # noqa: BLE001 - the program's exception goes to the test as data
            reply = _error(e)
        send(rpc, reply)


def _encode_name(v, handles: list):
    if type(v).__name__ == "module" and isinstance(getattr(v, "__name__", None), str):
        return {"m": v.__name__}
    try:
        return encode(v, handles)
    except (ValueError, RecursionError):
        handles.append(v)
        return {"h": len(handles) - 1, "type": "object"}


def _error(e: BaseException) -> dict:
    t = type(e)
    builtin = getattr(builtins, t.__name__, None) is t
    try:
        msg = str(e)[:500]
    except BaseException:  # noqa: BLE001 - a broken __str__
        msg = ""
    try:
        import traceback

        traceback.print_exception(t, e, e.__traceback__.tb_next if e.__traceback__ else None, file=sys.stderr)
    except BaseException:  # noqa: BLE001
        pass
    return {"err": t.__name__[:100], "msg": msg, "builtin": builtin}


# --------------------------------------------------------------------------- the judge's side

# The program's exceptions the test code may see (and catch) as themselves; everything else -- exits,
# AssertionError raised by the program, StopIteration that would silently end a loop -- is a ProgramError.
_PASSED_ON = {
    n
    for n, t in vars(builtins).items()
    if isinstance(t, type)
    and issubclass(t, Exception)
    and t not in (AssertionError, StopIteration, StopAsyncIteration)
}


class Remote:
    """A proxy for something of the program (a function, a class, an object)."""

    __slots__ = ("_link", "_h", "_type")

    def __init__(self, link: Link, h: int, type_name: str):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_h", h)
        object.__setattr__(self, "_type", type_name)

    def __call__(self, *args, **kwargs):
        return self._link.ask(
            {
                "op": "call",
                "h": self._h,
                "args": [self._link.put(a) for a in args],
                "kwargs": {k: self._link.put(a) for k, a in kwargs.items()},
            }
        )

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._link.ask({"op": "attr", "h": self._h, "name": name})

    def __repr__(self) -> str:
        return f"<program {self._type}>"


class Link:
    """The judge's end of the connection to the program's process."""

    def __init__(self, rpc: socket.socket, cap: int):
        self.rpc, self.cap = rpc, cap

    def remote(self, h: int, type_name: str) -> Remote:
        return Remote(self, h, type_name)

    def put(self, v):
        if isinstance(v, Remote):
            return {"h": v._h}
        handles: list = []
        out = encode(v, handles)
        if handles:
            raise TypeError(
                f"a {type(handles[0]).__name__} cannot be passed to the program (plain data only)"
            )
        return out

    def ask(self, msg: dict):
        send(self.rpc, msg)
        reply = recv(self.rpc, self.cap)
        if not isinstance(reply, dict):
            raise ProgramError("the program sent a malformed reply")
        if "compile_error" in reply:
            raise CompileFailed(str(reply["compile_error"])[:500])
        if "exit" in reply:
            raise ProgramError(f"the program exited ({reply['exit']!r:.20}) instead of returning")
        if "err" in reply:
            name, text = str(reply.get("err"))[:100], str(reply.get("msg", ""))[:500]
            if reply.get("builtin") is True and name in _PASSED_ON:
                raise getattr(builtins, name)(text)
            raise ProgramError(f"{name}: {text}" if text else name)
        try:
            if "names" in reply and isinstance(reply["names"], dict):
                return {str(k): v for k, v in reply["names"].items()}
            return decode(reply["ok"], self.remote)
        except (KeyError, ValueError, RecursionError, TypeError) as e:
            raise ProgramError(f"the program sent a malformed value ({e})") from None

    def load(self) -> dict:
        """The program's top-level names: values, proxies, and the modules it imported (imported here)."""
        import importlib

        out = {}
        for k, v in self.ask({"op": "load"}).items():
            if hasattr(builtins, k):
                continue  # a program's ``abs = lambda x: 0`` must not replace what the test code calls
            if k in sys.stdlib_module_names:
                v = {"m": k}  # the test may use ``math`` the program imported: the judge's own, always
            if isinstance(v, dict) and set(v) == {"m"}:
                try:
                    out[k] = importlib.import_module(str(v["m"]))
                except Exception:  # noqa: BLE001 - a module only the program has: leave the name out
                    pass
                continue
            try:
                out[k] = decode(v, self.remote)
            except (ValueError, RecursionError):
                raise ProgramError("the program sent a malformed value") from None
        return out

    def end(self) -> None:
        try:
            send(self.rpc, {"op": "end"})
        except OSError:
            pass
