"""The ``equations`` of a model file, read by a strict grammar of our own: data, never code.

Brian2 and SymPy evaluate strings (SymPy's parser runs Python on them), so no
text from a file reaches either. A model file's equations are read here
instead, by this grammar, and compared with the LIF model numerically::

    equations := line (newline line)*            blank lines and '#' comments allowed
    line      := 'd' NAME '/dt' '=' sum ':' '1'  one per variable, v and I, dimensionless
    sum       := product (('+' | '-') product)*
    product   := unary (('*' | '/') unary)*
    unary     := ('+' | '-') unary | atom
    atom      := NUMBER | NAME | FUNCTION '(' sum ')' | '(' sum ')'

with ``NAME`` one of ``v, I, tau_m, tau_s``, ``FUNCTION`` one of ``exp, log, sqrt``, plain decimal numbers, no
powers, no quotes, at most :data:`MAX_LENGTH` characters, :data:`MAX_TOKENS`
tokens per right-hand side and :data:`MAX_DEPTH` levels of nesting (so reading
and evaluating an equation take microseconds, whatever the file holds). Anything else is a :class:`ValueError`
naming the line and what is wrong.

>>> rhs = parse_equations("dv/dt = -v/tau_m + I/tau_s : 1\\ndI/dt = -I/tau_s : 1")
>>> sorted(rhs)
['I', 'v']
>>> evaluate(rhs["v"], dict(v=1.0, I=0.0, tau_m=0.01, tau_s=0.005))
-100.0
"""
import math
import re

__all__ = ["parse_equations", "right_hand_sides", "evaluate", "MAX_LENGTH", "MAX_TOKENS", "MAX_DEPTH", "NAMES", "FUNCTIONS"]

#: Longest equations text accepted (characters).
MAX_LENGTH = 2000
#: Most tokens (names, numbers, operators) in one right-hand side.
MAX_TOKENS = 200
#: Deepest nesting of parentheses, function calls and signs accepted.
MAX_DEPTH = 20
#: The names an equation may use: the two variables and the model's time constants.
NAMES = ("v", "I", "tau_m", "tau_s")
#: The functions an equation may call.
FUNCTIONS = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt}

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]{0,31})|(?P<op>[-+*/():=]))", re.ASCII)
_LINE = re.compile(r"\s*d(?P<variable>[A-Za-z_][A-Za-z0-9_]{0,31})\s*/\s*dt\s*=(?P<rhs>[^:]*):(?P<unit>.*)",
                   re.ASCII | re.DOTALL)


def parse_equations(text):
    """The right-hand sides of ``dX/dt = ... : 1`` lines, checked by the grammar (module docstring).

    Parameters
    ----------
    text : str
        The equations as written in a model file.

    Returns
    -------
    dict
        Variable name -> expression tree (nested tuples, see :func:`evaluate`), in the order written.

    Raises
    ------
    ValueError
        One line: which line, what is wrong, what is allowed.
    """
    if not isinstance(text, str):
        raise ValueError(f"must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"is {len(text)} characters long; at most {MAX_LENGTH}")
    equations = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        if not line.strip():
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"line {number}: must read 'dX/dt = expression : 1', got {_shown(line)}")
        variable = match["variable"]
        if variable in equations:
            raise ValueError(f"line {number}: d{variable}/dt is defined twice")
        if match["unit"].strip() != "1":
            raise ValueError(f"line {number}: {variable} must be dimensionless (': 1'), got "
                             f"{_shown(':' + match['unit'])}")
        equations[variable] = _Parser(match["rhs"], number).expression()
    if not equations:
        raise ValueError("holds no equation; write 'dv/dt = -v/tau_m + I/tau_s : 1' and 'dI/dt = -I/tau_s : 1'")
    return equations


def right_hand_sides(text):
    """The right-hand sides of ``text`` as written (variable name -> str), for messages; ``text`` has passed
    :func:`parse_equations`."""
    matches = (_LINE.fullmatch(line.split("#", 1)[0]) for line in text.splitlines())
    return {match["variable"]: match["rhs"].strip() for match in matches if match is not None}


def evaluate(tree, values):
    """The value of an expression tree at ``values`` (name -> float); ``ArithmeticError`` or ``ValueError``
    where it is undefined (a division by zero, the log of a negative number).

    Trees are ``('number', x)``, ``('name', n)``, ``('neg', a)``, ``('+' | '-' | '*' | '/', a, b)`` and
    ``('call', function, a)``.
    """
    kind = tree[0]
    if kind == "number":
        return tree[1]
    if kind == "name":
        return values[tree[1]]
    if kind == "neg":
        return -evaluate(tree[1], values)
    if kind == "call":
        return FUNCTIONS[tree[1]](evaluate(tree[2], values))
    a, b = evaluate(tree[1], values), evaluate(tree[2], values)
    return {"+": a + b, "-": a - b, "*": a * b}[kind] if kind != "/" else a / b


class _Parser:
    """Recursive descent over the tokens of one right-hand side."""

    def __init__(self, text, line):
        self.line, self.tokens, position = line, [], 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if not text[position:].strip():
                    break
                rest = text[position:].lstrip()
                raise ValueError(f"line {line}: unexpected {_shown(rest[0])}; allowed: the names "
                                 f"{', '.join(NAMES)}, numbers, + - * / ( ) and {', '.join(FUNCTIONS)}")
            kind = match.lastgroup
            value = match[kind]
            if kind == "op" and value in ":=":
                raise ValueError(f"line {line}: unexpected {value!r} in the right-hand side")
            self.tokens.append((kind, value))
            if len(self.tokens) > MAX_TOKENS:
                raise ValueError(f"line {line}: more than {MAX_TOKENS} names, numbers and operators")
            position = match.end()
        self.position, self.depth = 0, 0

    def expression(self):
        if not self.tokens:
            raise ValueError(f"line {self.line}: the right-hand side is empty")
        tree = self._sum()
        if self.position != len(self.tokens):
            raise ValueError(f"line {self.line}: unexpected {_shown(self.tokens[self.position][1])}")
        return tree

    def _peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else (None, None)

    def _take(self):
        token = self._peek()
        if token[0] is None:
            raise ValueError(f"line {self.line}: the expression ends too early")
        self.position += 1
        return token

    def _nested(self, parse):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ValueError(f"line {self.line}: nested more than {MAX_DEPTH} levels deep")
        tree = parse()
        self.depth -= 1
        return tree

    def _sum(self):
        tree = self._product()
        while self._peek() in (("op", "+"), ("op", "-")):
            tree = (self._take()[1], tree, self._product())
        return tree

    def _product(self):
        tree = self._unary()
        while self._peek() in (("op", "*"), ("op", "/")):
            operator = self._take()[1]
            if self._peek() == ("op", "*"):
                raise ValueError(f"line {self.line}: no powers ('**'); write products")
            tree = (operator, tree, self._unary())
        return tree

    def _unary(self):
        if self._peek() in (("op", "+"), ("op", "-")):
            sign = self._take()[1]
            operand = self._nested(self._unary)
            return ("neg", operand) if sign == "-" else operand
        return self._atom()

    def _atom(self):
        kind, value = self._take()
        if kind == "number":
            return ("number", float(value))
        if kind == "name" and value in FUNCTIONS:
            if self._take() != ("op", "("):
                raise ValueError(f"line {self.line}: {value} needs '(' after it")
            argument = self._nested(self._sum)
            self._close()
            return ("call", value, argument)
        if kind == "name":
            if value not in NAMES:
                raise ValueError(f"line {self.line}: unknown name {value!r}; allowed: {', '.join(NAMES)} and the "
                                 f"functions {', '.join(FUNCTIONS)}")
            return ("name", value)
        if (kind, value) == ("op", "("):
            tree = self._nested(self._sum)
            self._close()
            return tree
        raise ValueError(f"line {self.line}: unexpected {value!r}")

    def _close(self):
        if self._take() != ("op", ")"):
            raise ValueError(f"line {self.line}: a '(' is not closed")


def _shown(text, limit=40):
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")
