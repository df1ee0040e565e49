"""Deliberately wrong or slow HumanEval+ solutions for ``scripts/compare_evalplus.py``.

Each variant is a function body written for a HumanEval+ task: the task's ``prompt`` (imports,
signature and docstring) followed by the body is the whole solution, exactly as evalplus builds a
solution from a ``completion``. Kinds:

* ``off-by-one``: a loop bound, slice or comparison one step off;
* ``wrong-type``: the right values in the wrong type (tuple for list, str for int, …);
* ``wrong-value``: another plausible mistake (forgotten case, wrong rule);
* ``infinite-loop``: a loop that never ends on some or all inputs;
* ``slow``: quadratic (or worse) where the reference is linear or n log n;
* ``tolerance``: floats that differ from the reference by less than 1e-6.

``expect``, where set, is the verdict pair ``(evalplus passes, orps passes)`` that the two
evaluators' documented semantics predict for a variant whose verdict is not obvious (a wrong
type both accept, a tolerance one side applies and the other does not); ``why`` says which
semantics. Without ``expect`` the two sides should simply agree. The comparison script reports
any verdict pair that contradicts ``expect``, and any disagreement without one, as unexplained.

Standard library only: this file is read from both virtual environments.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    task_id: str
    name: str
    kind: str
    body: str
    expect: tuple[bool, bool] | None = None
    why: str = ""


def _body(text: str) -> str:
    """A body written flush left, indented as a function body."""
    lines = text.strip("\n").split("\n")
    return "\n".join("    " + line if line.strip() else "" for line in lines) + "\n"


NUMBERS_BY_VALUE = (
    "both sides compare numbers by value across int, float and bool: evalplus with ==, orps's "
    "harness (values_equal) with == then math.isclose; so {eq} and the variant passes on both"
)
FLOAT_ATOL = (
    "evalplus compares float outputs with atol=1e-6 even when the task's atol is 0 (is_floats "
    "check, then np.allclose), and orps's expected-output tests do the same for a float or a "
    "list or tuple of floats (orps.bench.expected.FLOAT_ATOL), so an output rounded to 7 decimals "
    "passes on both"
)
SPECIAL_ORACLE = (
    "evalplus checks find_zero with a special oracle, |poly(xs, x)| <= atol, so any root passes; "
    "orps's test compares x with the reference's root within atol, so another root fails"
)

VARIANTS: tuple[Variant, ...] = (
    # -- HumanEval/0 has_close_elements -----------------------------------------------------
    Variant(
        "HumanEval/0",
        "last-pair-skipped",
        "off-by-one",
        _body(
            """
sorted_numbers = sorted(numbers)
for i in range(len(sorted_numbers) - 2):
    if sorted_numbers[i + 1] - sorted_numbers[i] < threshold:
        return True
return False
"""
        ),
    ),
    Variant(
        "HumanEval/0",
        "int-for-bool",
        "wrong-type",
        _body(
            """
sorted_numbers = sorted(numbers)
for i in range(len(sorted_numbers) - 1):
    if sorted_numbers[i + 1] - sorted_numbers[i] < threshold:
        return 1
return 0
"""
        ),
        expect=(True, True),
        why=NUMBERS_BY_VALUE.format(eq="1 == True and 0 == False"),
    ),
    Variant(
        "HumanEval/0",
        "all-pairs",
        "slow",
        _body(
            """
for i, a in enumerate(numbers):
    for j, b in enumerate(numbers):
        if i != j and abs(a - b) < threshold:
            return True
return False
"""
        ),
    ),
    # -- HumanEval/1 separate_paren_groups --------------------------------------------------
    Variant(
        "HumanEval/1",
        "slice-end",
        "off-by-one",
        _body(
            """
s = paren_string.replace(" ", "")
results, depth, start = [], 0, 0
for i, ch in enumerate(s):
    if ch == "(":
        if depth == 0:
            start = i
        depth += 1
    elif ch == ")":
        depth -= 1
        if depth == 0:
            results.append(s[start:i])
return results
"""
        ),
    ),
    # -- HumanEval/2 truncate_number (atol 1e-6) ---------------------------------------------
    Variant(
        "HumanEval/2",
        "rounded-7",
        "tolerance",
        _body("return round(number - int(number), 7)"),
        expect=(True, True),
        why="the task's atol is 1e-6 and both sides apply it (orps through its _orps_close helper)",
    ),
    Variant(
        "HumanEval/2",
        "round-not-floor",
        "wrong-value",
        _body("return abs(number - round(number))"),
    ),
    # -- HumanEval/3 below_zero ---------------------------------------------------------------
    Variant(
        "HumanEval/3",
        "le-zero",
        "off-by-one",
        _body(
            """
account = 0
for operation in operations:
    account += operation
    if account <= 0:
        return True
return False
"""
        ),
    ),
    Variant(
        "HumanEval/3",
        "index-not-advanced",
        "infinite-loop",
        _body(
            """
account, i = 0, 0
while i < len(operations):
    account += operations[i]
    if account < 0:
        return True
return False
"""
        ),
    ),
    Variant(
        "HumanEval/3",
        "prefix-sums",
        "slow",
        _body("return any(sum(operations[: i + 1]) < 0 for i in range(len(operations)))"),
    ),
    # -- HumanEval/4 mean_absolute_deviation (atol 1e-6) ------------------------------------
    Variant(
        "HumanEval/4",
        "n-minus-one",
        "off-by-one",
        _body(
            """
mean = sum(numbers) / len(numbers)
return sum(abs(x - mean) for x in numbers) / (len(numbers) - 1)
"""
        ),
    ),
    Variant(
        "HumanEval/4",
        "mean-per-element",
        "slow",
        _body("return sum(abs(x - sum(numbers) / len(numbers)) for x in numbers) / len(numbers)"),
    ),
    # -- HumanEval/5 intersperse ----------------------------------------------------------------
    Variant(
        "HumanEval/5",
        "trailing-delimiter",
        "off-by-one",
        _body(
            """
res = []
for i in range(len(numbers)):
    res.append(numbers[i])
    if i != len(numbers):
        res.append(delimeter)
return res
"""
        ),
    ),
    Variant(
        "HumanEval/5",
        "list-concatenation",
        "slow",
        _body(
            """
res = []
for n in numbers:
    res = res + [n, delimeter]
return res[:-1]
"""
        ),
    ),
    # -- HumanEval/6 parse_nested_parens ------------------------------------------------------
    Variant(
        "HumanEval/6",
        "count-not-depth",
        "wrong-value",
        _body('return [s.count("(") for s in paren_string.split(" ") if s]'),
    ),
    # -- HumanEval/7 filter_by_substring ------------------------------------------------------
    Variant(
        "HumanEval/7",
        "tuple-for-list",
        "wrong-type",
        _body("return tuple(s for s in strings if substring in s)"),
    ),
    # -- HumanEval/8 sum_product ----------------------------------------------------------------
    Variant(
        "HumanEval/8",
        "list-for-tuple",
        "wrong-type",
        _body(
            """
s, p = 0, 1
for number in numbers:
    s += number
    p *= number
return [s, p]
"""
        ),
    ),
    Variant(
        "HumanEval/8",
        "first-skipped",
        "off-by-one",
        _body(
            """
s, p = 0, 1
for number in numbers[1:]:
    s += number
    p *= number
return s, p
"""
        ),
    ),
    # -- HumanEval/9 rolling_max ----------------------------------------------------------------
    Variant(
        "HumanEval/9",
        "prefix-excludes-current",
        "off-by-one",
        _body("return [max(numbers[:i]) for i in range(len(numbers))]"),
    ),
    # -- HumanEval/10 make_palindrome -----------------------------------------------------------
    Variant(
        "HumanEval/10",
        "last-suffix-missed",
        "off-by-one",
        _body(
            """
if is_palindrome(string):
    return string
for i in range(len(string) - 1):
    if is_palindrome(string[i:]):
        return string + string[i - 1 :: -1]
"""
        ),
    ),
    # -- HumanEval/11 string_xor ----------------------------------------------------------------
    Variant(
        "HumanEval/11",
        "list-of-ints",
        "wrong-type",
        _body("return [int(x) ^ int(y) for x, y in zip(a, b)]"),
    ),
    Variant(
        "HumanEval/11",
        "index-not-advanced",
        "infinite-loop",
        _body(
            """
i, out = 0, []
while i < len(a):
    out.append(str(int(a[i]) ^ int(b[i])))
    if len(out) > 10_000_000:
        out.clear()
return "".join(out)
"""
        ),
    ),
    # -- HumanEval/12 longest -------------------------------------------------------------------
    Variant(
        "HumanEval/12",
        "empty-not-handled",
        "wrong-value",
        _body("return max(strings, key=len)"),
    ),
    Variant(
        "HumanEval/12",
        "compare-all",
        "slow",
        _body(
            """
for s in strings:
    if all(len(s) >= len(t) for t in strings):
        return s
return None
"""
        ),
    ),
    # -- HumanEval/13 greatest_common_divisor -----------------------------------------------
    Variant(
        "HumanEval/13",
        "float-result",
        "wrong-type",
        _body(
            """
while b:
    a, b = b, a % b
return float(a)
"""
        ),
        expect=(True, True),
        why=NUMBERS_BY_VALUE.format(eq="5.0 == 5 (gcds here are exact as floats)"),
    ),
    Variant(
        "HumanEval/13",
        "subtraction-euclid",
        "infinite-loop",
        _body(
            """
while a != b:
    if a > b:
        a -= b
    else:
        b -= a
return a
"""
        ),
    ),
    # -- HumanEval/14 all_prefixes --------------------------------------------------------------
    Variant(
        "HumanEval/14",
        "slice-end",
        "off-by-one",
        _body("return [string[:i] for i in range(len(string))]"),
    ),
    # -- HumanEval/15 string_sequence -----------------------------------------------------------
    Variant(
        "HumanEval/15",
        "n-excluded",
        "off-by-one",
        _body('return " ".join(map(str, range(n)))'),
    ),
    Variant(
        "HumanEval/15",
        "list-for-str",
        "wrong-type",
        _body("return [str(i) for i in range(n + 1)]"),
    ),
    # -- HumanEval/16 count_distinct_characters ---------------------------------------------
    Variant(
        "HumanEval/16",
        "case-sensitive",
        "wrong-value",
        _body("return len(set(string))"),
    ),
    Variant(
        "HumanEval/16",
        "scan-prefix",
        "slow",
        _body(
            """
s = string.lower()
return len([c for i, c in enumerate(s) if c not in s[:i]])
"""
        ),
    ),
    # -- HumanEval/18 how_many_times ------------------------------------------------------------
    Variant(
        "HumanEval/18",
        "last-position-missed",
        "off-by-one",
        _body(
            """
occurences = 0
for i in range(len(string) - len(substring)):
    if string[i:].startswith(substring):
        occurences += 1
return occurences
"""
        ),
    ),
    # -- HumanEval/19 sort_numbers --------------------------------------------------------------
    Variant(
        "HumanEval/19",
        "alphabetical",
        "wrong-value",
        _body('return " ".join(sorted(numbers.split()))'),
    ),
    # -- HumanEval/20 find_closest_elements -----------------------------------------------------
    Variant(
        "HumanEval/20",
        "all-pairs",
        "slow",
        _body(
            """
best = None
for i, a in enumerate(numbers):
    for j, b in enumerate(numbers):
        if i != j and (best is None or abs(a - b) < best[0]):
            best = (abs(a - b), (min(a, b), max(a, b)))
return best[1]
"""
        ),
    ),
    Variant(
        "HumanEval/20",
        "list-for-tuple",
        "wrong-type",
        _body(
            """
s = sorted(numbers)
pairs = list(zip(s[:-1], s[1:]))
l, r = min(pairs, key=lambda p: p[1] - p[0])
return [l, r]
"""
        ),
    ),
    # -- HumanEval/21 rescale_to_unit (atol 0) -------------------------------------------------
    Variant(
        "HumanEval/21",
        "rounded-7",
        "tolerance",
        _body(
            """
ma, mi = max(numbers), min(numbers)
return [round((x - mi) / (ma - mi), 7) for x in numbers]
"""
        ),
        expect=(True, True),
        why=FLOAT_ATOL,
    ),
    # -- HumanEval/22 filter_integers -----------------------------------------------------------
    Variant(
        "HumanEval/22",
        "isinstance-admits-bool",
        "wrong-value",
        _body("return [x for x in values if isinstance(x, int)]"),
    ),
    # -- HumanEval/23 strlen ---------------------------------------------------------------------
    Variant(
        "HumanEval/23",
        "str-for-int",
        "wrong-type",
        _body("return str(len(string))"),
    ),
    Variant(
        "HumanEval/23",
        "slice-until-empty",
        "slow",
        _body(
            """
n = 0
while string[n:]:
    n += 1
return n
"""
        ),
    ),
    # -- HumanEval/24 largest_divisor -----------------------------------------------------------
    Variant(
        "HumanEval/24",
        "divisor-n-included",
        "off-by-one",
        _body(
            """
for i in range(1, n + 1):
    if n % i == 0 and n // i <= n:
        return n // i
return 1
"""
        ),
    ),
    # -- HumanEval/26 remove_duplicates ---------------------------------------------------------
    Variant(
        "HumanEval/26",
        "count-each",
        "slow",
        _body("return [n for n in numbers if numbers.count(n) == 1]"),
    ),
    Variant(
        "HumanEval/26",
        "set-dedup",
        "wrong-value",
        _body("return list(dict.fromkeys(numbers))"),
    ),
    # -- HumanEval/30 get_positive --------------------------------------------------------------
    Variant(
        "HumanEval/30",
        "zero-included",
        "off-by-one",
        _body("return [x for x in l if x >= 0]"),
    ),
    # -- HumanEval/32 find_zero (atol 1e-4, special oracle) ---------------------------------
    Variant(
        "HumanEval/32",
        "bisection",
        "wrong-value",
        _body(
            """
begin, end = -1.0, 1.0
while poly(xs, begin) * poly(xs, end) > 0:
    begin *= 2.0
    end *= 2.0
while end - begin > 1e-10:
    center = (begin + end) / 2.0
    if poly(xs, center) * poly(xs, begin) > 0:
        begin = center
    else:
        end = center
return begin
"""
        ),
        why=SPECIAL_ORACLE,
    ),
)


TRACEMALLOC_TIMEOUT = (
    "orps's per-test timeout runs from the test's start to its result, and a passing test's "
    "result is sent after a second run under tracemalloc, which slows this allocation-heavy "
    "integer loop about 9x (factorize(9999999967): 0.21 s plain, 1.9 s traced); with a limit "
    "of max(1 s, 4x the reference time) the pair can exceed it, evalplus's single run cannot. "
    "Whether it does depends on the machine's load"
)

REFERENCE_NOTES: dict[str, tuple[tuple[bool, bool] | None, bool, str]] = {
    # task id: (expected verdict pair or None, load-dependent, why)
    "HumanEval/32": (
        (False, True),
        False,
        "evalplus 0.3.1 bug: its find_zero special oracle (`assert abs(_poly(*inp, out)) <= "
        "atol; continue`) skips the lines that record the input as passed, so the per-input "
        "details stay empty and untrusted_check turns the run into 'fail' for every solution, "
        "the canonical one included; orps compares with the reference root within atol",
    ),
    "HumanEval/15": (
        None,
        True,
        "string_sequence's largest inputs take 0.43 s in the reference and return 6.9 MB strings "
        "(147 MB of expected output over the task's 137 inputs). orps ships expected values as "
        "literals in the test sources, so the load message is ~150 MB and loading it exceeds the "
        "per-test budget ('importing the module exceeded …'): every solution fails in orps. "
        "evalplus keeps them as objects; its verdict depends on whether n = 10^6 runs within "
        "1.7 s on the loaded machine",
    ),
    "HumanEval/13": (
        None,
        True,
        "evalplus's per-input limit is a wall-clock ITIMER_REAL of 1 s around each call; at load "
        "averages near 20 its process was stalled past it on trivial inputs (gcd(540, 10), "
        "gcd(33, 54)) in some runs, while six runs at load 11 all passed",
    ),
    "HumanEval/24": (None, True, TRACEMALLOC_TIMEOUT),
    "HumanEval/25": (None, True, TRACEMALLOC_TIMEOUT),
}


def variants_for(task_ids: list[str]) -> list[Variant]:
    """The variants of the given tasks, in task order."""
    wanted = set(task_ids)
    order = {task_id: i for i, task_id in enumerate(task_ids)}
    chosen = [v for v in VARIANTS if v.task_id in wanted]
    return sorted(chosen, key=lambda v: order[v.task_id])
