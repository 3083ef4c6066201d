"""JSON text byte for byte as ramscli prints it (cli/json_out.c through cJSON 1.7's printer).

Numbers: a float32 becomes the shortest decimal of 6..9 significant digits that reads back to it
(json_out.c's short_double), kept as a Python float; printing then follows cJSON: NaN and
infinities as null, Python ints with %d, anything else with %1.15g (%1.17g if that does not read
back), so that integral values print without a point, as cJSON prints them.  Strings: '"', '\\' and control characters escaped as cJSON
does (\\b \\f \\n \\r \\t, others \\u00xx), everything else as it is.  Objects and arrays without
spaces.
"""

import ctypes
import math
import re

from . import _lib

_INT_MAX = 2147483647
_INT_MIN = -2147483648
_DBL_EPSILON = 2.220446049250313e-16


def short_float(f):
    """json_out.c's short_double: a float32 value (a Python float holding one) as the double of
    its shortest decimal with at most 9 significant digits that strtof reads back."""
    f = float(f)
    if f != f or f in (math.inf, -math.inf):
        return f
    for digits in (6, 7, 8):
        text = b"%.*g" % (digits, f)
        if _lib.strtof(text, None) == f:
            return float(text)
    return float(b"%.9g" % f)


def short_floats(values):
    return [short_float(v) for v in values]


def _negative_zero():
    """How the cJSON that ramscli links prints -0.0: "-0" (1.7.15, Debian 12's: %1.15g) or "0"
    (later versions print values equal to their int conversion with %d).  Every other number
    prints the same in both."""
    try:
        cjson = ctypes.CDLL("libcjson.so.1")
        cjson.cJSON_CreateNumber.restype = ctypes.c_void_p
        cjson.cJSON_CreateNumber.argtypes = [ctypes.c_double]
        cjson.cJSON_PrintUnformatted.restype = ctypes.c_void_p
        cjson.cJSON_PrintUnformatted.argtypes = [ctypes.c_void_p]
        cjson.cJSON_Delete.argtypes = [ctypes.c_void_p]
        cjson.cJSON_free.argtypes = [ctypes.c_void_p]
        item = cjson.cJSON_CreateNumber(-0.0)
        text = cjson.cJSON_PrintUnformatted(item)
        out = ctypes.string_at(text).decode()
        cjson.cJSON_free(text)
        cjson.cJSON_Delete(item)
        return out if out in ("0", "-0") else "-0"
    except (OSError, AttributeError):
        return "-0"


_NEGATIVE_ZERO = _negative_zero()


def _number(d):
    if isinstance(d, bool):
        d = int(d)
    if isinstance(d, int):
        if _INT_MIN <= d <= _INT_MAX:
            return "%d" % d
        d = float(d)
    if d != d or d in (math.inf, -math.inf):
        return "null"
    if d == 0.0:
        return _NEGATIVE_ZERO if math.copysign(1.0, d) < 0 else "0"
    text = "%1.15g" % d
    back = float(text)
    if not abs(back - d) <= max(abs(back), abs(d)) * _DBL_EPSILON:
        text = "%1.17g" % d
    return text


_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_NAMED = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m):
    c = m.group(0)
    return _NAMED.get(c) or "\\u%04x" % ord(c)


def _string(s):
    return '"' + _ESCAPE.sub(_escape, s) + '"'


def _write(o, out):
    if o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, str):
        out.append(_string(o))
    elif isinstance(o, (int, float)):
        out.append(_number(o))
    elif isinstance(o, dict):
        out.append("{")
        first = True
        for k, v in o.items():
            if not first:
                out.append(",")
            first = False
            out.append(_string(k))
            out.append(":")
            _write(v, out)
        out.append("}")
    elif isinstance(o, (list, tuple)):
        out.append("[")
        for i, v in enumerate(o):
            if i:
                out.append(",")
            _write(v, out)
        out.append("]")
    else:
        raise TypeError("ramstrans.dumps: cannot print a %s as ramscli would" % type(o).__name__)


def dumps(obj):
    """obj as one line of JSON text, as ramscli prints it (str; file names that are not UTF-8
    hold their bytes as surrogate escapes: encode with ("utf-8", "surrogateescape"))."""
    out = []
    _write(obj, out)
    return "".join(out)
