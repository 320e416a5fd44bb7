"""A small ctypes binding over the eSpeak NG library shipped by the ``espeakng-loader``
pip package (no apt package, no network).

    >>> wave, sr = synthesize("Hello there.", voice="en-us+f2", rate=200, pitch=70)
    >>> wave.dtype, sr
    (dtype('float32'), 22050)

The eSpeak NG library keeps its state in process-global variables and is not re-entrant:
every synthesis runs under one lock, on a freshly loaded and initialised instance of the
library (a private copy, unloaded again afterwards; see ``_open``), so that the same call
always gives byte-identical samples whatever was synthesised before in the process.
eSpeak NG's own random generator is seeded from the clock by ``espeak_Initialize``; we reseed
it with a constant (``espeak_ng_SetRandSeed``) so that output does not depend on the time
or the process either. Samples are collected from the synthesis callback; the ctypes callback object is kept
referenced at module level so that it is never garbage-collected while the C library
holds its address.

Parameters follow eSpeak's own scales: ``rate`` in words per minute (80-450, default
175), ``pitch`` 0-100 (default 50), ``pitch_range`` 0-100 (default 50, 0 is a monotone),
``volume`` 0-200 (default 100; above ~150 loud passages saturate), ``word_gap`` extra
pause between words in units of 10 ms (default 0). ``voice`` is an eSpeak voice name,
optionally with a variant: ``"en-us"``, ``"en"``, ``"en-gb-scotland+m1"``, ``"en-029+f3"``
(variants are the files in ``<data>/voices/!v``, see ``list_variants()``). ``pitch`` is
relative to the voice's own base pitch: with eGeMAPS (16 kHz), pitch 20 / 50 / 80 gives an
F0 mean of about 19 / 22 / 28 semitones above 27.5 Hz for "en-us" and 29 / 34 / 39 for
the female "en-us+f2".
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import os
import shutil
import tempfile
import threading

import numpy as np

__all__ = ["EspeakError", "SAMPLE_RATE", "synthesize", "list_variants", "data_path"]

SAMPLE_RATE = 22050
RAND_SEED = 0  # eSpeak NG's internal random generator, reseeded for every utterance (see _open)

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on bad data
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakError(RuntimeError):
    """The eSpeak NG library or its data could not be loaded, or synthesis failed."""


_lock = threading.Lock()
_private_lib = None  # (pid, path of this process' private copy of the shared library)
_callback = None  # the ctypes callback object: must stay referenced (GC pitfall)
_chunks: list[bytes] = []


def _reset_lock_in_child() -> None:  # a fork while another thread synthesised must not deadlock
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)


def data_path() -> str:
    """The espeak-ng-data directory shipped by espeakng-loader."""
    try:
        import espeakng_loader
    except ImportError as error:
        raise EspeakError(
            "The demo corpus synthesises speech with eSpeak NG from the 'espeakng-loader' pip "
            "package, which is not installed: pip install espeakng-loader"
        ) from error
    try:
        path = espeakng_loader.get_data_path()
    except Exception as error:  # RuntimeError when the folder is missing
        raise EspeakError(f"espeakng-loader is installed but its eSpeak NG data is missing: {error}") from error
    if not os.path.isfile(os.path.join(path, "phontab")):
        raise EspeakError(f"The eSpeak NG data folder {path} has no 'phontab': reinstall espeakng-loader")
    return path


def _on_samples(wav, numsamples, events):
    if numsamples > 0 and wav:
        _chunks.append(ctypes.string_at(wav, numsamples * 2))
    return 0  # 0: continue synthesis


def _library_copy() -> str:
    """Path of a private copy of libespeak-ng, made once per process (see _open)."""
    global _private_lib
    if _private_lib is not None and _private_lib[0] == os.getpid():
        return _private_lib[1]
    data_path()  # checks the package and its data first, with a clear message
    import espeakng_loader

    source = espeakng_loader.get_library_path()
    if not os.path.isfile(source):
        raise EspeakError(f"espeakng-loader is installed but its library {source} is missing")
    folder = tempfile.mkdtemp(prefix="smoothclap-espeak-")
    target = os.path.join(folder, os.path.basename(source))
    shutil.copyfile(source, target)
    pid = os.getpid()
    atexit.register(lambda: os.getpid() == pid and shutil.rmtree(folder, ignore_errors=True))
    _private_lib = (pid, target)
    return target


def _open():
    """Load and initialise a fresh instance of the library (call with the lock held).

    eSpeak NG keeps synthesis state in static variables (glottal phase, flutter index,
    resonator memories, noise generator...) that neither espeak_Terminate nor a new
    espeak_Initialize resets, so the same call gives slightly different samples depending
    on what was synthesised before. Unloading and reloading the library is what resets
    them; a private copy makes sure no other user of the library holds it loaded (then
    dlclose would not unload it). It costs about 3 ms per utterance.
    """
    global _callback
    path = _library_copy()
    try:
        lib = ctypes.CDLL(path)
    except OSError as error:
        raise EspeakError(f"Cannot load the eSpeak NG library {path}: {error}") from error
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
        ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None

    data = data_path()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        _close(lib, terminate=False)
        raise EspeakError(f"espeak_Initialize failed (returned {rate}) with data path {data}")
    # espeak_Initialize seeds eSpeak's own random generator (used for the voice's
    # flutter/noise) from the clock, so the same call gave different samples in every new
    # process (and in the same process a second later). A fixed seed makes synthesis a
    # pure function of its arguments.
    lib.espeak_ng_SetRandSeed(RAND_SEED)
    if _callback is None:
        _callback = _SYNTH_CALLBACK(_on_samples)
    lib.espeak_SetSynthCallback(_callback)
    return lib, rate


def _close(lib, terminate=True):
    if terminate:
        lib.espeak_Terminate()  # frees the voice and phoneme data (else ~1 MB leaks per load)
    if hasattr(_ctypes, "dlclose"):
        _ctypes.dlclose(lib._handle)
    elif hasattr(_ctypes, "FreeLibrary"):  # pragma: no cover - Windows
        _ctypes.FreeLibrary(lib._handle)


def list_variants() -> list[str]:
    """Names of the voice variants available (files in ``<data>/voices/!v``)."""
    folder = os.path.join(data_path(), "voices", "!v")
    return sorted(name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name)))


def _check_range(name, value, low, high):
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside eSpeak's range {low}..{high}")
    return int(round(value))


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
               pitch_range: int = 50, volume: int = 100, word_gap: int = 0) -> tuple[np.ndarray, int]:
    """Synthesise ``text``; returns ``(float32 mono wave in [-1, 1], 22050)``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("synthesize() needs a non-empty text")
    params = [
        (_RATE, _check_range("rate", rate, 80, 450)),
        (_VOLUME, _check_range("volume", volume, 0, 200)),
        (_PITCH, _check_range("pitch", pitch, 0, 100)),
        (_RANGE, _check_range("pitch_range", pitch_range, 0, 100)),
        (_WORDGAP, _check_range("word_gap", word_gap, 0, 100)),
    ]
    data = text.encode("utf-8") + b"\0"
    with _lock:
        lib, sample_rate = _open()
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise EspeakError(
                    f"eSpeak NG does not know the voice {voice!r}; use a language such as 'en-us', "
                    f"'en', 'en-gb-scotland', 'en-029', optionally with a variant '+name' from "
                    f"{data_path()}/voices/!v (e.g. 'en-us+f2', 'en+m3')"
                )
            for key, value in params:  # after the voice: selecting a voice resets them
                if lib.espeak_SetParameter(key, value, 0) != _EE_OK:
                    raise EspeakError(f"espeak_SetParameter({key}, {value}) failed")
            _chunks.clear()
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            raw = b"".join(_chunks)
            _chunks.clear()
            if status != _EE_OK:
                raise EspeakError(f"espeak_Synth failed with status {status} for voice {voice!r}")
        finally:
            _close(lib)
    wave = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return wave, sample_rate
