"""Kconfig evaluation for Linux trees, with the tree's own Kconfig implementation.

Two evaluators behind one search: ``kconfig-eval`` (our helper linked against the tree's
``scripts/kconfig`` sources, parsed once, ~tens of ms per configuration) and, when it cannot
be built, the tree's ``scripts/kconfig/conf --olddefconfig`` on a private copy of ``.config``
(seconds per configuration).  Nothing is written into the tree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from hdrtest.models import OptionSetting
from hdrtest.store.atomic import write_atomic
from hdrtest.store.namespaces import KCONFIG, load, witness_stamps
from hdrtest.toolchain.run import finished

from .helper import Evaluator, build_helper, edit_dotconfig
from .model import Model
from .scan import (
    TREE_INDEX_VERSION,
    SymInfo,
    decode_tree_index,
    encode_tree_index,
    kconfig_env_from_cmd,
    kconfig_fingerprint,
    scan_kconfig_tree,
)
from .search import MAX_EVALS_HELPER, MAX_EVALS_KERNEL, SymbolFacts, resolve
from .values import (
    TRI,
    Assignment,
    Assignments,
    KconfigError,
    Resolution,
    State,
    macro_name,
    normalize_value,
    parse_dotconfig,
    symbol_name,
    unquote_string,
)

#: scripts/config's switch for each bool/tristate value.
_SWITCHES = {"y": "-e", "m": "-m", "n": "-d"}


def _tree_witnesses(root: Path) -> dict[str, list[int] | None]:
    """Stamps of the files a misdirected kconfig run would rewrite in the tree."""
    return witness_stamps(str(root / rel) for rel in (".config", ".config.old", "include/config/auto.conf",
                                                       "include/generated/autoconf.h", "include/generated/rustc_cfg"))


def _kconfig_env(extra: Mapping[str, str]) -> dict[str, str]:
    # conf and its $(shell) probes see what they would in a plain shell: an outer make's jobserver
    # variables (hdrtest run from a Makefile) are not theirs, and a KCONFIG_* variable from the caller's
    # shell must not redirect the output.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL") and not k.startswith("KCONFIG_")}
    return {**env, **extra}


def unprepared_error(root: Path) -> KconfigError:
    """Why a Linux tree's Kconfig cannot be evaluated without writing into it."""
    return KconfigError(f"{root}: no include/config/auto.conf.cmd or scripts/kconfig/conf to evaluate Kconfig "
                        "outside the tree (run make prepare)")


def _stored_flip(requested: OptionSetting, blob: bytes) -> tuple[Resolution | None]:
    """A flip's answer as ``flip`` stored it (JSON ``null``: Kconfig cannot give it), in a 1-tuple."""
    data = json.loads(blob)
    if data is None:
        return (None,)
    return (Resolution(requested=requested, achieved=bool(data["achieved"]),
                       via=tuple(OptionSetting(**s) for s in data["via"]),
                       changed=tuple((n, o, v) for n, o, v in data["changed"]),
                       config_lines=tuple(data["config_lines"]), defines=tuple((n, v) for n, v in data["defines"])),)


class KernelConfBackend:
    """Evaluate configurations with a Linux tree's own kconfig tools, outside the tree."""

    def __init__(self, root: Path, config: Path, workdir: Path, *, timeout: float = 300.0, mode: str = "auto") -> None:
        """``mode``: "helper" evaluates with ``kconfig-eval`` (built from the tree's
        ``scripts/kconfig`` sources, started on the first evaluation, falling back to "conf"
        with a note in ``notes`` when it cannot be built or run); "conf" runs the tree's built
        ``scripts/kconfig/conf`` directly in a private directory.  Both use the environment recorded
        in ``include/config/auto.conf.cmd``; "auto" picks "helper" when it is there, else the backend
        is "unprepared": it answers what the ``.config`` says, and every flip is a ``KconfigError``.

        There is no ``make olddefconfig`` mode: Kconfig's ``$(cc-option)`` probes make ``.tmp_PID``
        directories in make's working directory, the tree, and an unprepared tree gets
        ``scripts/kconfig/conf`` built into it.  hdrtest never writes into the user's tree.
        """
        self._root = root.resolve()
        self._config_bytes = config.read_bytes()
        self._baseline = parse_dotconfig(self._config_bytes.decode("utf-8", "replace"))
        self._workdir = workdir.resolve()
        self._timeout = timeout
        conf_env = kconfig_env_from_cmd(self._root / "include" / "config" / "auto.conf.cmd")
        conf_bin = self._root / "scripts" / "kconfig" / "conf"
        self._fallback = "conf" if conf_env and os.access(conf_bin, os.X_OK) else "unprepared"
        if mode == "auto":
            mode = "helper" if conf_env else "unprepared"
        if mode not in ("conf", "helper", "unprepared"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode in ("conf", "helper") and not conf_env:
            raise KconfigError(f"{self._root}: no include/config/auto.conf.cmd (run make prepare)")
        self.mode = mode
        #: One line per thing the user should know about how Kconfig was evaluated.
        self.notes: list[str] = []
        self._evaluator: Evaluator | None = None
        self._warming: threading.Thread | None = None
        self._helper_lock = threading.Lock()
        #: Seconds kconfig-eval took to parse Kconfig (None until started).
        self.helper_parse_seconds: float | None = None
        self._conf_env = conf_env
        self._index: Mapping[str, SymInfo] | None = None
        self._lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._memo: dict[OptionSetting, Resolution | None] = {}
        #: One lock per flip: a second caller of a flip being evaluated waits for its answer.
        self._flip_locks: dict[OptionSetting, threading.Lock] = {}
        self._eval_memo: dict[frozenset[Assignment], State] = {}
        #: Wall-clock seconds of each olddefconfig run, for reports and tuning.
        self.timings: list[float] = []
        self._cache_dir = self._workdir / "cache"

    @property
    def concurrent(self) -> bool:
        """Whether flips should be asked for from several threads (``Flipper.prefetch``): worth it
        when each evaluation is a process of seconds, not with one helper answering in milliseconds.
        Measured (bench_kconfig --flips 69, load ~20): 69 whole flips cost one helper 74 evaluations,
        14.5 s wall; a second helper would first parse Kconfig (20.5 s wall there), more than it saves."""
        return self.mode != "helper"

    def model(self) -> Model:
        """The Kconfig model from kconfig-eval (raises ``KconfigError`` when the helper is not available)."""
        if self.mode != "helper":
            raise KconfigError("the Kconfig model needs kconfig-eval, which is not in use here")
        return self._helper().model()

    def warm_up(self) -> None:
        """Build and start kconfig-eval in the background when this cache directory has answered no flip yet (a
        cold run, which will ask for some): its build and Kconfig parse (seconds, in processes of their own) then
        overlap the run's scanning.  A warm run asks the disk, and never needs the helper."""
        if self.mode != "helper" or self._evaluator is not None or self._warming is not None:
            return
        with contextlib.suppress(OSError):
            if any(self._cache_dir.glob("*.json")):
                return
        self._warming = threading.Thread(target=self._warm, name="kconfig-eval-start")
        self._warming.start()

    def _warm(self) -> None:
        with contextlib.suppress(Exception):  # the first evaluation meets the problem again, and reports it
            self._helper()

    def close(self) -> None:
        """Stop the helper, if one runs (it also stops when the backend is collected or hdrtest exits)."""
        if self._evaluator is not None:
            self._evaluator.close()
            self._evaluator = None

    # -- protocol

    def baseline(self) -> dict[str, str]:
        return dict(self._baseline)

    def known(self, option: str) -> bool:
        if macro_name(option) in self._baseline:
            return True  # olddefconfig writes every symbol it gives a value: no need to read Kconfig
        info = self._info(option)
        return info is not None and info.type is not None

    def symbol_type(self, option: str) -> str | None:
        value = self._baseline.get(macro_name(option))
        if value == "m":
            return "tristate"
        if value is not None and value.startswith('"'):
            return "string"
        info = self._info(option)
        return None if info is None else info.type

    def flip(self, option: str, value: str) -> Resolution | None:
        """Thread-safe: different flips evaluate concurrently (each ``conf`` in its own directory);
        a second caller of the same flip waits for the first one's answer."""
        if self.mode == "unprepared":
            raise unprepared_error(self._root)
        name = macro_name(option)
        requested = OptionSetting(name, normalize_value(value, self.symbol_type(name)))
        with self._lock:
            flip_lock = self._flip_locks.setdefault(requested, threading.Lock())
        with flip_lock:  # when the first caller failed, the one waiting tries for itself
            if requested not in self._memo:
                stored = load(self._cache_path(requested), functools.partial(_stored_flip, requested))
                if stored is None:
                    stored = (self._resolve(requested) if self.known(name) else None,)
                    write_atomic(self._cache_path(requested),
                                 json.dumps(None if stored[0] is None else dataclasses.asdict(stored[0])).encode())
                self._memo[requested] = stored[0]
            return self._memo[requested]

    # -- index

    def _info(self, option: str) -> SymInfo | None:
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    self._index = self._load_tree_index()
        return self._index.get(symbol_name(option))

    @functools.cached_property
    def _choices(self) -> dict[int, tuple[str, ...]]:
        """Choice id -> its members with a prompt, in name order (built once, from the loaded index: a choice
        symbol's facts are asked for in every search step, and a scan of the whole index each time dominated
        planning a large tree)."""
        members: dict[int, list[str]] = {}
        for other, other_info in sorted((self._index or {}).items()):
            if other_info.choice is not None and other_info.prompt:
                members.setdefault(other_info.choice, []).append(macro_name(other))
        return {choice: tuple(names) for choice, names in members.items()}

    @functools.cached_property
    def _fingerprint(self) -> str:
        return kconfig_fingerprint(self._root)

    def _load_tree_index(self) -> Mapping[str, SymInfo]:
        """``scan_kconfig_tree``, kept on disk under the Kconfig fingerprint (a scan reads ~1,800 files); without
        one (no record of which Kconfig files there are) there is nothing to key a cache by."""
        key = KCONFIG.key(TREE_INDEX_VERSION, str(self._root), self._fingerprint) if self._fingerprint else None
        path = self._cache_dir / f"tree-{key}.pickle" if key else None
        stored = load(path, decode_tree_index)
        if stored is not None:
            return stored
        index = scan_kconfig_tree(self._root)
        if path is not None:
            write_atomic(path, encode_tree_index(index))
        return index

    # -- disk cache

    def _cache_path(self, requested: OptionSetting) -> Path:
        key = KCONFIG.key(str(self._root), self._config_bytes, self._fingerprint, self.mode, str(requested))
        return self._cache_dir / f"{key}.json"

    # -- evaluation

    def _evaluate(self, assigns: Assignments) -> State:
        key = frozenset(assigns)
        if not assigns:
            # A .config the build has used is already olddefconfig's fixed point (syncconfig
            # rewrites it otherwise), so the baseline needs no run.
            return self._baseline
        if key not in self._eval_memo:
            state = self._evaluate_with_helper(assigns) if self.mode == "helper" else None
            self._eval_memo[key] = state if state is not None else self._olddefconfig(assigns)
        return self._eval_memo[key]

    def _olddefconfig(self, assigns: Assignments) -> State:
        """What the tree's ``conf --olddefconfig`` makes of the .config edited by ``assigns``, run in a private
        directory."""
        if self.mode != "conf":
            raise unprepared_error(self._root)
        (self._workdir / "kconfig").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="eval-", dir=self._workdir / "kconfig",
                                         ignore_cleanup_errors=True) as scratch:
            private = Path(scratch)
            cfg = private / ".config"
            cfg.write_bytes(self._config_bytes)
            self._run(["bash", str(self._root / "scripts" / "config"), "--file", str(cfg),
                       "--keep-case", *self._config_args(assigns)], private, {})
            before = _tree_witnesses(self._root)
            # conf creates auto.conf/autoconf.h/rustc_cfg when they are missing: point them
            # at the private directory so a configured but unprepared tree stays untouched.
            env = {"KCONFIG_CONFIG": str(cfg),
                   "KCONFIG_AUTOCONFIG": str(private / "auto.conf"),
                   "KCONFIG_AUTOHEADER": str(private / "autoconf.h"),
                   "KCONFIG_RUSTCCFG": str(private / "rustc_cfg")}
            started = time.monotonic()
            env.update(self._conf_env)
            env["srctree"] = str(self._root)
            self._run([str(self._root / "scripts" / "kconfig" / "conf"), "--olddefconfig",
                       str(self._root / env.get("KBUILD_KCONFIG", "Kconfig"))], private, env)
            self.timings.append(time.monotonic() - started)
            if _tree_witnesses(self._root) != before:
                raise KconfigError(f"olddefconfig wrote into {self._root}; refusing to go on")
            return parse_dotconfig(cfg.read_text(encoding="utf-8", errors="replace"))

    def _evaluate_with_helper(self, assigns: Assignments) -> State | None:
        """The state from kconfig-eval, or None after switching to the fallback (with a note)."""
        try:
            evaluator = self._helper()
            types = {n: self.symbol_type(n) for n, _v in assigns}
            started = time.monotonic()
            state = evaluator.evaluate_assignments(assigns, types)
            if state is None:  # a request the shortcut does not model: the edited file, read afresh
                state = evaluator.evaluate(edit_dotconfig(self._config_bytes.decode("utf-8", "replace"),
                                                          assigns, types))
            self.timings.append(time.monotonic() - started)
            return state
        except KconfigError as exc:
            with self._helper_lock:
                if self.mode == "helper":
                    self.mode = self._fallback
                    self.notes.append(f"Kconfig: the fast evaluator (kconfig-eval, built from {self._root}/scripts/"
                                      f"kconfig) is not available ({str(exc).splitlines()[0][:300]}); " + (
                                          "each configuration runs scripts/kconfig/conf instead (seconds each)"
                                          if self._fallback == "conf" else
                                          "scripts/kconfig/conf is not built either: no Kconfig variants"))
                    self.close()
            return None

    def _helper(self) -> Evaluator:
        with self._helper_lock:
            if self._evaluator is None:
                binary = build_helper(self._root, self._workdir / "helper", timeout=self._timeout)
                parsed = time.monotonic()
                env = _kconfig_env({**self._conf_env, "srctree": str(self._root)})
                config = self._workdir / "kconfig" / f"reference-{hashlib.sha256(self._config_bytes).hexdigest()}"
                if not config.is_file():
                    write_atomic(config, self._config_bytes)
                self._evaluator = Evaluator(binary, self._root / env.get("KBUILD_KCONFIG", "Kconfig"), config,
                                            env, self._workdir / "kconfig", timeout=self._timeout)
                self.helper_parse_seconds = time.monotonic() - parsed
            return self._evaluator

    def _config_args(self, assigns: Assignments) -> list[str]:
        args: list[str] = []
        for name, value in assigns:
            sym = symbol_name(name)
            if value in _SWITCHES:
                args += [_SWITCHES[value], sym]
            elif self.symbol_type(name) == "string":
                args += ["--set-str", sym, unquote_string(value)]
            else:
                args += ["--set-val", sym, value]
        return args

    def _run(self, argv: list[str], cwd: Path, extra_env: Mapping[str, str]) -> None:
        proc = finished(argv, timeout=self._timeout, error=KconfigError, env=_kconfig_env(extra_env), cwd=cwd)
        if proc.returncode != 0:
            raise KconfigError(f"{' '.join(argv)} exited {proc.returncode}: "
                               f"{proc.err.strip()[-2000:]}")

    # -- search

    def _resolve(self, requested: OptionSetting) -> Resolution | None:
        info = self._info(requested.name)
        cheap = self.mode == "helper"
        return resolve(requested, self._baseline, info is not None and info.prompt, self._evaluate, self,
                       self.symbol_type, MAX_EVALS_HELPER if cheap else MAX_EVALS_KERNEL, first_hit=not cheap)

    # -- the search's view (SymbolModel): the scanned Kconfig text plus the evaluated values

    def facts(self, name: str, state: State) -> SymbolFacts | None:
        info = self._info(name)
        if info is None:
            return None
        selectors = tuple((macro_name(s), kind, TRI.get(state.get(macro_name(s), "n"), 0))
                          for s, kind in sorted(info.selected_by))
        choice: tuple[str, ...] = ()
        if info.choice is not None:
            choice = tuple(other for other in self._choices.get(info.choice, ()) if other != name)
        # A line scan cannot evaluate prompt conditions: a prompt counts as visible.
        return SymbolFacts(type=info.type, prompt=info.prompt, visible=info.prompt, selectors=selectors,
                           depends=tuple(macro_name(d) for d in sorted(info.depends)), choice_alternatives=choice)
