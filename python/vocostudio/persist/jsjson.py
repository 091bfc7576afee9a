"""JSON text exactly as JavaScript writes it (JSON.stringify with or without indentation, String(number)), so
files the studio wrote can be written again byte for byte. Key order is kept (dicts are ordered)."""
import json
import math
from decimal import Decimal


def js_number(x):
    """String(x) for a JS number (ECMAScript Number::toString): shortest round-trip digits, JS exponent rules."""
    if isinstance(x, bool):
        raise TypeError('bool is not a number')
    if isinstance(x, int):
        if abs(x) < 10 ** 21:
            return str(x)
        x = float(x)
    if math.isnan(x):
        return 'NaN'
    if math.isinf(x):
        return 'Infinity' if x > 0 else '-Infinity'
    if x == 0:
        return '0'
    sign = '-' if x < 0 else ''
    t = Decimal(repr(abs(x))).as_tuple()
    digits = ''.join(map(str, t.digits)).rstrip('0') or '0'
    # value = 0.digits × 10^n
    n = len(t.digits) + t.exponent
    k = len(digits)
    if k <= n <= 21:
        s = digits + '0' * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + '.' + digits[n:]
    elif -6 < n <= 0:
        s = '0.' + '0' * (-n) + digits
    else:
        e = n - 1
        s = digits[0] + ('.' + digits[1:] if k > 1 else '') + 'e' + ('+' if e >= 0 else '-') + str(abs(e))
    return sign + s


def _str(s):
    return json.dumps(s, ensure_ascii=False)


def stringify(value, indent=None, _level=0):
    """JSON.stringify(value, null, indent). Non-finite numbers become null, as in JS."""
    if value is None:
        return 'null'
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return 'null'
        return js_number(value)
    if isinstance(value, str):
        return _str(value)
    pad = ' ' * indent if indent else ''
    inner = '\n' + pad * (_level + 1) if indent else ''
    outer = '\n' + pad * _level if indent else ''
    if isinstance(value, (list, tuple)):
        if not value:
            return '[]'
        parts = [stringify(v, indent, _level + 1) for v in value]
        return '[' + inner + (',' + inner).join(parts) + outer + ']'
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items()]
        if not items:
            return '{}'
        sep = ': ' if indent else ':'
        parts = [_str(str(k)) + sep + stringify(v, indent, _level + 1) for k, v in items]
        return '{' + inner + (',' + inner).join(parts) + outer + '}'
    raise TypeError(f'cannot stringify {type(value).__name__}')


def parse(text):
    """JSON.parse: object key order kept; integers stay ints, others floats."""
    return json.loads(text)
