"""The words of the demo tickets: many ways to say each of the 20 topics, typos, mixed and vague tickets.

:mod:`aikit.local.crm.seed` draws each ticket's topic (and so its agent category), tone, slots,
opener and closer from its main random stream, exactly as before; this module then writes the
ticket's subject and body from a **second** stream seeded from the same ``seed``, so the text varies
the way real tickets do while every other seeded value (counts, categories, priorities, stages, notes,
deals) stays as it was:

- 3-5 subject phrasings and 2-3 body phrasings per topic, some with slots (amounts, months, features);
- subject decorations ("Re:", "URGENT", all lower case, the first words of the body);
- typos (a swapped, dropped or doubled letter) in about one ticket in six;
- mixed tickets (about one in eight) that add a second topic of another category, and vague ones
  (about one in twenty) whose subject says nothing; for both the agent's category stays the first
  topic's, so some labels are debatable, as in a real portal.

Without this, 88 % of the newest tickets shared their exact subject with an older one, and any
nearest-neighbour method scored 1.00 by copying. :func:`ticket_text` returns, next to the text, the
record of how it was made (``provenance``): the seed keeps it (``Store.get_meta("ticket_provenance")``,
read with :func:`aikit.local.crm.seed.seed_provenance`), so a test can know which tickets are
near-duplicates of which.

>>> import random
>>> subject, body, made = ticket_text(random.Random(1), 0, {"month": "May", "amount": "$49", "invoice": "INV-1",
...                                   "n": "3", "feature": "API", "report": "dashboard"}, others=[1, 5])
>>> made["topic"], isinstance(subject, str) and len(body) > 20
(0, True)
"""

# ruff: noqa: E501  (the phrasings are data: one per line reads best)
from __future__ import annotations

import random
import re
from typing import Any

__all__ = ["PHRASES", "same_text_key", "ticket_text"]

#: Per topic index of ``seed._TOPICS`` (same order): (subject phrasings, body phrasings).
PHRASES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (  # 0 BILLING charged twice
        (
            "Charged twice for {month}",
            "Double charge on our card",
            "Two payments taken for {month}?",
            "duplicate payment {amount}",
            "Billed 2x this month",
        ),
        (
            "Our card was charged twice for the {month} subscription ({amount} each time). Invoice {invoice} shows one payment, the bank statement shows two.",
            "We see the same {amount} payment two times on our statement for {month}. Only one invoice ({invoice}) was sent to us. Please reverse the extra one.",
            "Looks like you took the money twice - {amount} on the 3rd and again on the 4th. Can you check and give one back?",
        ),
    ),
    (  # 1 BILLING wrong VAT
        (
            "Invoice {invoice} has the wrong VAT number",
            "Wrong tax ID on invoice",
            "VAT number outdated on our invoices",
            "Corrected invoice needed ({invoice})",
        ),
        (
            "Invoice {invoice} lists an old VAT number for us, so our accounts team cannot book it. We need a corrected copy.",
            "Our tax ID changed in spring but {invoice} still shows the old one. Accounting will not accept it like this; please reissue.",
        ),
    ),
    (  # 2 BILLING refund unused seats
        (
            "Refund for unused seats",
            "We were billed for {n} seats we removed",
            "Seat count wrong on renewal bill",
            "Money back for removed licences?",
        ),
        (
            "We removed {n} seats last month but the renewal still billed the full amount of {amount}. Can you refund the difference?",
            "The renewal charged {amount} as if we still had all our licences, but {n} were cancelled before the date. We would like a credit note.",
        ),
    ),
    (  # 3 BILLING price increase
        (
            "Price increase on renewal",
            "Why is our renewal so expensive?",
            "Renewal quote {amount} - is that right?",
            "Unexpected price change",
        ),
        (
            "The renewal quote is {amount}, which is a lot more than last year for the same plan. Nobody told us about a price change.",
            "Our plan has not changed but next year's price went up to {amount}. Was there an announcement we missed? We need to explain this to finance.",
        ),
    ),
    (  # 4 BILLING billing contact
        (
            "Need to change the billing contact",
            "Send invoices to finance please",
            "Update invoice email address",
            "New billing email",
        ),
        (
            "Please send future invoices to our finance team instead of me. Invoice {invoice} went to the wrong inbox.",
            "From now on the invoices should go to accounts@ our domain. The last one ({invoice}) landed with someone who left.",
        ),
    ),
    (  # 5 PRODUCT times out
        (
            "{feature} times out",
            "{feature} keeps spinning",
            "{feature} not loading",
            "Timeout errors in {feature}",
            "{feature} very slow today",
        ),
        (
            "The {feature} has been timing out since yesterday. It spins for about a minute and then shows an error. {n} people on my team are affected.",
            "Nobody here can use the {feature} right now: it loads forever and ends with a timeout message. This started this morning.",
        ),
    ),
    (  # 6 PRODUCT wrong numbers
        (
            "{report} shows wrong numbers",
            "Totals in {report} don't add up",
            "Numbers off in the {report}",
            "{report} figures incorrect",
        ),
        (
            "The totals in the {report} do not match our own records: we count {n} orders for {month}, the {report} says fewer.",
            "Our spreadsheet says {n} orders in {month}; the {report} shows a lower figure. Which one is right? Something seems off in the calculation.",
        ),
    ),
    (  # 7 PRODUCT error 500
        (
            "Error 500 when saving settings",
            "Can't save notification settings",
            "Server error on the settings page",
            "500 error",
            "Settings won't save",
        ),
        (
            "Every time I save the notification settings I get an error 500. I tried two browsers and cleared the cache.",
            "Saving my preferences fails with 'Internal Server Error'. Tried Chrome and Firefox, same thing.",
        ),
    ),
    (  # 8 PRODUCT broken after update
        (
            "{feature} broken after the update",
            "Update broke the {feature}",
            "{feature} stopped working",
            "Problem with {feature} since release",
        ),
        (
            "Since the last update the {feature} no longer works for us. It worked fine on Friday.",
            "After your release this week the {feature} just shows a blank page. Nothing changed on our side.",
        ),
    ),
    (  # 9 PRODUCT data missing
        (
            "Data missing from {report}",
            "Records gone from the {report}",
            "{report} is empty for recent days",
            "Missing rows in {report}",
        ),
        (
            "Records from the last {n} days are missing in the {report}. We rely on it for our Monday meeting.",
            "The {report} stops a few days ago - the latest {n} days are not there at all. Is an import stuck?",
        ),
    ),
    (  # 10 FEATURE dark mode
        ("Request: dark mode", "Dark theme?", "Any plans for a night mode", "Idea: darker colours option"),
        (
            "Could you add a dark mode? Several of us work late shifts and the bright screens are tiring.",
            "It would be great to have a dark theme. The white background is hard on the eyes in the evening.",
        ),
    ),
    (  # 11 FEATURE filters
        (
            "Please add filters to the {report}",
            "Filter {report} by region",
            "Suggestion: owner filter in {report}",
            "Can the {report} have filters?",
        ),
        (
            "It would help a lot to filter the {report} by region and owner. Right now we export everything and filter in a spreadsheet.",
            "We would like to narrow the {report} down by team or region inside the app instead of exporting it every week.",
        ),
    ),
    (  # 12 FEATURE schedule report
        (
            "Schedule the {report} by email",
            "Automatic weekly {report} email",
            "Send {report} every Monday?",
            "Wish: scheduled reports",
        ),
        (
            "We would love to get the {report} emailed automatically every Monday morning.",
            "Is it possible to have the {report} sent to our inbox on a schedule? Today someone has to remember to download it.",
        ),
    ),
    (  # 13 FEATURE bulk edit
        ("Bulk edit for records", "Edit many records at once", "Mass update option please", "Bulk changes?"),
        (
            "Editing {n} records one at a time takes ages. A bulk edit option would save us hours every week.",
            "We often need to change the owner of {n} or more records. Selecting several and editing them together would be a big help.",
        ),
    ),
    (  # 14 FEATURE 2FA app
        (
            "Two-factor authentication via app",
            "Support for authenticator apps",
            "2FA with Google Authenticator?",
            "Roadmap question: app-based 2FA",
        ),
        (
            "Our security policy now requires authenticator-app 2FA. Is this on the roadmap?",
            "We can only keep using tools that offer TOTP two-factor login. Do you plan to add it, and when?",
        ),
    ),
    (  # 15 GENERAL locked out
        ("Locked out of my account", "Can't log in", "Password reset email not arriving", "Account locked"),
        (
            "I am locked out after too many password attempts and the reset email never arrives. I checked the spam folder.",
            "After a few wrong passwords the login is blocked, and the reset link does not come through. How do I get back in?",
        ),
    ),
    (  # 16 GENERAL transfer ownership
        (
            "Transfer account ownership",
            "Our admin left - who owns the account now?",
            "Change account owner",
            "New admin for our workspace",
        ),
        (
            "Our admin left the company. How do we transfer ownership of the account to me?",
            "The person who set up our account no longer works here. What do you need from us to make me the owner?",
        ),
    ),
    (  # 17 GENERAL add user
        (
            "How do I add a new user?",
            "Inviting new colleagues",
            "Read-only access for new staff",
            "Question about user invites",
        ),
        (
            "We hired {n} new people this month. What is the quickest way to invite them and give them read-only access?",
            "How can I give {n} new team members access that lets them look but not change anything?",
        ),
    ),
    (  # 18 GENERAL data location
        (
            "Where is our data stored?",
            "Data hosting region",
            "Question from legal: DPA and hosting",
            "GDPR question",
        ),
        (
            "Our legal team asks in which region our data is hosted and whether you have a data processing agreement.",
            "For our compliance review: which country are your servers in, and can you send us your DPA?",
        ),
    ),
    (  # 19 GENERAL cancel trial extension
        (
            "Cancel our trial extension",
            "Stop the extended trial",
            "We don't need the longer trial",
            "Trial extension - please end it",
        ),
        (
            "We no longer need the trial extension. Please make sure we are not charged at the end of it.",
            "Please end the extra trial weeks you gave us; we have decided for now and do not want a bill when it runs out.",
        ),
    ),
]

_VAGUE = ("Question", "Help needed", "Issue", "Following up", "Quick question", "Problem")
_MIX = ("Also, unrelated: ", "One more thing: ", "While I have you - ", "PS: ")


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif kind == "drop":
        w = w[:j] + w[j + 1 :]
    else:
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def _decorate(subject: str, body: str, rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.08:
        return "Re: " + subject, "re"
    if roll < 0.13:
        return "URGENT: " + subject, "urgent"
    if roll < 0.20:
        return subject.lower(), "lower"
    if roll < 0.26:
        words = body.split()
        return " ".join(words[: rng.randint(4, 7)]).rstrip(".,:;-") + "...", "from-body"
    return subject, "plain"


def ticket_text(
    rng: random.Random, topic: int, slots: dict[str, str], *, others: list[int]
) -> tuple[str, str, dict[str, Any]]:
    """``(subject, core body, provenance)`` of one ticket of ``topic`` (an index into ``PHRASES``).

    ``others`` are topic indices of other categories, candidates for a mixed ticket's second topic.
    The opener, closer and signature are added by the caller. Two tickets say the same thing (are
    near duplicates) when :func:`same_text_key` of their provenance is equal.
    """
    subjects, bodies = PHRASES[topic]
    si, bi = rng.randrange(len(subjects)), rng.randrange(len(bodies))
    body = bodies[bi].format(**slots)
    made: dict[str, Any] = {"topic": topic, "subject_variant": si, "body_variant": bi, "slots": dict(slots)}
    mixed = rng.random() < 0.12
    if mixed:
        second = rng.choice(others)
        variant = rng.randrange(len(PHRASES[second][1]))
        extra = PHRASES[second][1][variant].format(**slots)
        body = f"{body} {rng.choice(_MIX)}{extra}"
        made["mixed_with"], made["mixed_variant"] = second, variant
    subject = subjects[si].format(**slots)
    if rng.random() < 0.05:
        subject, how = rng.choice(_VAGUE), "vague"
    else:
        subject, how = _decorate(subject, body, rng)
    made["subject_style"] = how
    if rng.random() < 0.17:
        body = _typo(body, rng)
        made["typo"] = True
    subject = subject[:1].upper() + subject[1:] if how != "lower" else subject
    return subject, body, made


def same_text_key(made: dict[str, Any]) -> tuple[Any, ...]:
    """What decides a ticket body's words: topic, phrasing, the slot values it uses, the mixed-in part.

    Tone, opener, closer, signature, subject and typos are left out: two tickets with the same key say
    the same thing in the same words around those (issue 20's dedupe test counts them as duplicates).
    """
    topic, variant = made["topic"], made["body_variant"]
    used = set(re.findall(r"\{(\w+)\}", PHRASES[topic][1][variant]))
    mixed = made.get("mixed_with")
    if mixed is not None:
        used |= set(re.findall(r"\{(\w+)\}", PHRASES[mixed][1][made["mixed_variant"]]))
    slots = tuple(sorted((k, v) for k, v in made["slots"].items() if k in used))
    return (topic, variant, mixed, made.get("mixed_variant"), slots)
