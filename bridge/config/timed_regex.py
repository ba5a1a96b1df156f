"""Rules' regexes: Python's `re` syntax, run by the `regex` engine with a time bound on each match.

`re` backtracks without limit and cannot be interrupted: `(a|aa)+$` took 92 s on forty a's and
a '!', `(a|a)*$` 56 s on twenty-seven, and the text is an item's name or any field a path
reaches, written by content editors and matched inside the receiver while every other request
waited. bridge/config/regex_risk.py warns about the usual shape at load time, not about all of
them. The `regex` package (mrab-regex) gives up on a match after a timeout; in its VERSION0 mode
it reads `re`'s syntax with `re`'s meaning. A pattern must compile in both: `re` gives the errors
users know and the parse the rule index and the risk check read; `regex`, the engine that runs
the match, must accept it too, and read it alike (bridge/config/regex_dialect.py), so a pattern
that loads is a pattern that runs, with the answers it had.

MATCH_TIMEOUT_S is 50 ms. An ordinary condition takes microseconds on a real field (a name, a
codename, a few thousand characters at most), so the bound is thousands of times what any of them
needs, and it is the longest one crafted text may hold up the request it came in: long enough
that a loaded machine never cuts an honest match short, short enough that nobody waits for it.
The engine counts the process's CPU time and looks at it every 256 steps; a step can scan the
whole text, so the bound slips on long texts (50 ms became 0.9 s on a million spaces), and a value
longer than MAX_TEXT_CHARS is not searched at all. Either way the match is given up, RegexTimeout
says so, and the rules engine fails the rule for that event and reports it. A pattern that repeats
nothing (`^Breaking`, `news$`) takes a bounded number of steps per character; below UNTIMED_STEPS
it runs without the clock, which costs more than such a search.

One match's bound is not enough: a signed legacy body of 800 crafted items cost 800 bounds (a
given-up match runs about 80 ms of wall time on a 2-core VM), a minute of a worker thread, past
the 60 s the sender waits, and the sender's retry of the same body (a duplicate) cost it again.
So the matches of one plan (`plan_budget`: one request, one page of a replay, one payload
explained, one `bridge test` case) share PLAN_REGEX_BUDGET_S, spent by every match that was given
up and every one slower than SLOW_MATCH_S; once it is spent, every further match of that plan is
given up at once (RegexTimeout with `unrun`), as a timeout is.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

import regex

from bridge.config.regex_dialect import dialect_clash
from bridge.config.regex_risk import match_ways

MATCH_TIMEOUT_S = 0.05
# Up to here the bound holds within a few ms (65 ms measured for 50 on 10,000 spaces); the
# fields of a notification (names, codenames, ids, steps) are far shorter.
MAX_TEXT_CHARS = 10_000
# A search bounded below this many steps runs without the clock: reading it is a system call,
# twice a match, which cost more than `^Breaking` on a name (4 us against 1 us on a 2-core VM).
# About 1 ms at most (a 64-way pattern on 10,000 characters: 24 million steps, 100 ms).
UNTIMED_STEPS = 200_000
# What the slow matches of one plan may take in all before the rest of the plan's matches are
# given up unrun: 20 bounds of 50 ms (a dozen given-up matches, each running past its bound
# in wall time). Honest texts never reach one bound, so only crafted ones
# spend it; and a request that costs at most about a second more stays far inside the 60 s a
# sender waits, so a batch of crafted values is answered, not timed out and sent again.
PLAN_REGEX_BUDGET_S = 1.0
# A match slower than this spends the plan's budget, whether or not it was given up: otherwise
# values crafted to take 49 ms each would cost as many bounds as the batch holds. The slowest
# honest search measured, `.*x$` on 10,000 characters, took 50 us; a name takes 2 to 3 us.
SLOW_MATCH_S = 0.001


class PatternError(ValueError):
    """A pattern that cannot be a rule's regex; the message says why."""


class RegexTimeout(Exception):
    """A match given up: it ran out of time, or its text was too long to search in time."""

    def __init__(self, rule_regex: RuleRegex, length: int, *, unrun: bool = False) -> None:
        super().__init__(rule_regex.pattern, length)
        self.regex = rule_regex
        self.length = length
        self.unrun = unrun  # not run: the plan's slow matches had spent PLAN_REGEX_BUDGET_S

    @property
    def too_long(self) -> bool:
        return self.length > MAX_TEXT_CHARS

    def words(self) -> str:
        """What happened, without the text (it is the payload's)."""
        if self.unrun:
            return (
                f"regex {self.regex.pattern!r} was given up without running on a value of "
                f"{self.length:,} characters: the slow regex matches of the same batch had "
                f"already taken {PLAN_REGEX_BUDGET_S:g} s, all it allows"
            )
        if self.too_long:
            return (
                f"regex {self.regex.pattern!r} was not run on a value of {self.length:,} "
                f"characters, more than the {MAX_TEXT_CHARS:,} a regex condition reads"
            )
        return (
            f"regex {self.regex.pattern!r} gave up after {MATCH_TIMEOUT_S * 1000:.0f} ms on a "
            f"value of {self.length:,} characters"
        )


class RegexBudgetSpent(Exception):
    """The regexes of one plan have used the time it allowed them (see `budget`)."""


@dataclass(frozen=True, slots=True)
class RuleRegex:
    """One `regex:` condition's pattern, compiled by both engines; equal when the text is."""

    pattern: str
    parsed: re.Pattern[str] = field(compare=False)  # re's reading, for bridge/config/literals.py
    engine: regex.Pattern[str] = field(compare=False)  # what matches
    # For a pattern that repeats nothing (`^Breaking`): the most steps a search takes per
    # character of the text (ways to match from one place, times the pattern's length). None:
    # it repeats something, and only the clock bounds it.
    steps_per_char: int | None = field(default=None, compare=False)

    def search(self, text: str) -> bool:
        """Whether the pattern is found in `text`; RegexTimeout when the match is given up."""
        if len(text) > MAX_TEXT_CHARS:
            raise RegexTimeout(self, len(text))
        plan = _plan.get()
        if plan is not None:
            return plan.search(self, text)
        return self._search(text)

    def _search(self, text: str) -> bool:
        clocked = self.clocked(len(text))
        spending = _budget.get()
        if spending is not None:
            return spending.search(self, text, clocked=clocked)
        if not clocked:
            return self.engine.search(text) is not None
        return self._timed_search(text, MATCH_TIMEOUT_S)

    def clocked(self, length: int) -> bool:
        """Whether a search of a text this long needs the engine's clock to bound it."""
        steps = self.steps_per_char
        return steps is None or steps * length > UNTIMED_STEPS

    def _timed_search(self, text: str, timeout_s: float) -> bool:
        try:
            return self.engine.search(text, timeout=timeout_s) is not None
        except TimeoutError:
            raise RegexTimeout(self, len(text)) from None


def compile_pattern(text: str) -> RuleRegex:
    """The pattern compiled for matching, or PatternError (re's own message where it has one)."""
    try:
        with warnings.catch_warnings():
            # re's FutureWarnings ("Possible nested set") are about re's own future reading;
            # `regex` runs the match, and dialect_clash refuses what it would read otherwise.
            warnings.simplefilter("ignore", FutureWarning)
            parsed = re.compile(text)
    except re.error as exc:
        raise PatternError(str(exc)) from None
    if (clash := dialect_clash(text, verbose=bool(parsed.flags & re.VERBOSE))) is not None:
        raise PatternError(clash)
    try:
        engine = regex.compile(text, regex.VERSION0)
    except (regex.error, ValueError) as exc:
        raise PatternError(
            f"Python's re accepts it, the regex engine that runs rules' regexes does not: {exc}"
        ) from None
    ways = match_ways(text)
    steps = None if ways is None else ways * max(len(text), 1)
    return RuleRegex(text, parsed, engine, steps)


@dataclass(slots=True)
class _Spending:
    left_s: float

    def search(self, rule_regex: RuleRegex, text: str, *, clocked: bool) -> bool:
        if self.left_s <= 0:
            raise RegexBudgetSpent
        started = time.perf_counter()
        try:
            if not clocked:
                return rule_regex.engine.search(text) is not None
            timeout_s = min(MATCH_TIMEOUT_S, self.left_s)
            try:
                return rule_regex._timed_search(text, timeout_s)
            except RegexTimeout:
                if timeout_s < MATCH_TIMEOUT_S:  # cut short by the budget, not by its own bound
                    raise RegexBudgetSpent from None
                raise
        finally:
            self.left_s -= time.perf_counter() - started


_budget: ContextVar[_Spending | None] = ContextVar("regex_budget", default=None)


@dataclass(slots=True)
class PlanBudget:
    """What one plan's slow matches have left of PLAN_REGEX_BUDGET_S, and how many matches were
    given up unrun once it was spent."""

    left_s: float = PLAN_REGEX_BUDGET_S
    given_up: int = 0

    def search(self, rule_regex: RuleRegex, text: str) -> bool:
        if self.left_s <= 0:
            self.given_up += 1
            raise RegexTimeout(rule_regex, len(text), unrun=True)
        if not rule_regex.clocked(len(text)):  # about 1 ms at most (UNTIMED_STEPS): not timed
            return rule_regex._search(text)
        started = time.perf_counter()
        try:
            return rule_regex._search(text)
        finally:
            took = time.perf_counter() - started
            if took > SLOW_MATCH_S:  # a match given up took MATCH_TIMEOUT_S
                self.left_s -= took


_plan: ContextVar[PlanBudget | None] = ContextVar("regex_plan_budget", default=None)


class _PlanScope:
    """`with plan_budget() as plan`; a class, not @contextmanager: it wraps every `plan`, and a
    generator context costs 3 us, more than planning a small notification."""

    __slots__ = ("_token",)

    def __init__(self) -> None:
        self._token: Token[PlanBudget | None] | None = None

    def __enter__(self) -> PlanBudget:
        outer = _plan.get()
        if outer is not None:
            return outer
        plan = PlanBudget()
        self._token = _plan.set(plan)
        return plan

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _plan.reset(self._token)


def plan_budget() -> AbstractContextManager[PlanBudget]:
    """Inside, the matches of this thread or task are one plan's: they share PLAN_REGEX_BUDGET_S.
    Nested, the outer plan's budget is the one shared (a payload explained as a whole)."""
    return _PlanScope()


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Inside, the searches of this thread or task share `seconds` (wall clock) in all: once it
    is spent, the next search raises RegexBudgetSpent. Each match keeps its own bound too."""
    token = _budget.set(_Spending(seconds))
    try:
        yield
    finally:
        _budget.reset(token)
