"""Demo content for a first look at QAForge, and `load_demo()` which puts it in the database (used by `manage.py demo`).

Loading is idempotent and never overwrites: a project, story or user that exists is left as it is (a QA lead's edits
to demo stories survive `make run`), test cases are only added to a story created in the same run, and the demo
user's flags and password are reset only when they differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import transaction

from stories import permissions
from stories.models import Membership, Project, Role, Scenario, TestCase, UserStory

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
# A second demo user who only reads one project, so the difference roles make shows in `make run`.
VIEWER_USERNAME = "viewer"
VIEWER_PASSWORD = "viewer"
VIEWER_PROJECT = "SHOP"
# Where `make run` serves the app (its HOST / QAFORGE_PORT variables).
DEMO_URL = f"http://{os.environ.get('HOST') or '127.0.0.1'}:{os.environ.get('QAFORGE_PORT') or 8000}/"

PROJECTS = [
    {"key": "SHOP", "name": "Web shop", "description": "The customer-facing online shop: catalogue, cart, checkout."},
    {"key": "BANK", "name": "Mobile banking", "description": "The retail banking app for iOS and Android."},
]

STORIES = [
    # --- Web shop ---------------------------------------------------------------------------------------------
    {
        "project": "SHOP",
        "key": "SHOP-1",
        "title": "Register an account with email and password",
        "description": "As a new shopper I want to register with my email and a password so that I can track orders.",
        "acceptance_criteria": [
            "Passwords must be 8–64 characters",
            "An email address can be registered only once",
            "Given a visitor on the registration page\nWhen they submit a valid email and password\n"
            "Then the account is created and a confirmation email is sent",
            "The confirmation link expires after 24 hours",
        ],
        "priority": "highest",
        "status": "done",
        "labels": ["accounts", "security"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-2",
        "title": "Sign in and stay signed in",
        "description": "As a returning shopper I want to sign in and stay signed in so that checkout is quick.",
        "acceptance_criteria": [
            "Given a registered shopper\nWhen they sign in with the right email and password\n"
            "Then they see their account page",
            "After 5 failed attempts the account is locked for 15 minutes",
            "'Keep me signed in' keeps the session for 30 days",
            "Signing out ends the session on this device only",
        ],
        "priority": "highest",
        "status": "done",
        "labels": ["accounts", "security"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-3",
        "title": "Search the catalogue by keyword",
        "description": "As a shopper I want to search the catalogue by keyword so that I find products quickly.",
        "acceptance_criteria": [
            "Results appear within 2 seconds for a catalogue of 100,000 products",
            "A search needs at least 2 characters",
            'Given a shopper on any page\nWhen they search for "red shoes"\n'
            "Then only products matching both words are listed",
            "A search with no results suggests up to 3 similar spellings",
        ],
        "priority": "high",
        "status": "in_progress",
        "labels": ["search", "catalogue"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-4",
        "title": "Filter search results by price and size",
        "description": "As a shopper I want to filter results by price range and size so that I only see what fits.",
        "acceptance_criteria": [
            "The price filter accepts whole amounts from 0 to 10,000 EUR",
            "The minimum price cannot be higher than the maximum price",
            "Filters are kept when the shopper goes to the next page of results",
            "Given results filtered by size M\nWhen the shopper removes the size filter\n"
            "Then all sizes are listed again",
        ],
        "priority": "medium",
        "status": "todo",
        "labels": ["search"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-5",
        "title": "Add items to the cart",
        "description": "As a shopper I want to add items to my cart so that I can buy several products at once.",
        "acceptance_criteria": [
            "The cart holds at most 50 items",
            "The quantity of one item is between 1 and 10",
            "Given a product in stock\nWhen the shopper adds it to the cart\n"
            "Then the cart icon shows the new number of items",
            "An item that goes out of stock is marked in the cart and excluded from the total",
            "The cart is kept for 30 days for signed-in shoppers",
        ],
        "priority": "highest",
        "status": "in_review",
        "labels": ["cart"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-6",
        "title": "Apply a discount code at checkout",
        "description": "As a shopper I want to apply a discount code so that I pay the promotional price.",
        "acceptance_criteria": [
            "A code is 6 to 12 letters or digits and is not case-sensitive",
            "Only one code can be applied per order",
            "Given a cart worth 40.00 EUR and the 10% code SAVE10\nWhen the shopper applies the code\n"
            "Then the total is 36.00 EUR",
            'An expired code shows "This code expired on <date>"',
        ],
        "priority": "high",
        "status": "todo",
        "labels": ["checkout", "promotions"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-7",
        "title": "Choose a delivery slot",
        "description": "As a shopper I want to choose a delivery slot so that I am at home when the parcel arrives.",
        "acceptance_criteria": [
            "Slots are 2 hours long, between 08:00 and 20:00",
            "Slots can be booked from the next day up to 14 days ahead",
            "A full slot is shown but cannot be selected",
        ],
        "priority": "medium",
        "status": "backlog",
        "labels": ["checkout", "delivery"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-8",
        "title": "Pay by card with 3-D Secure",
        "description": "As a shopper I want to pay by card so that my order is confirmed straight away.",
        "acceptance_criteria": [
            "Visa, Mastercard and American Express are accepted",
            "Given a card that requires 3-D Secure\nWhen the shopper approves the payment in their banking app\n"
            "Then the order is confirmed and an order number is shown",
            "A declined payment keeps the cart unchanged and says the card was declined",
            "The card number is never stored by the shop",
        ],
        "priority": "highest",
        "status": "in_progress",
        "labels": ["checkout", "payments", "security"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-9",
        "title": "Track an order",
        "description": "As a shopper I want to follow my order's delivery so that I know when it arrives.",
        "acceptance_criteria": [
            "The order page shows one of: Paid, Packed, Shipped, Delivered",
            "The carrier's tracking link appears once the order is shipped",
            "Given a shipped order\nWhen the carrier marks it delivered\n"
            "Then the shopper gets an email within 10 minutes",
        ],
        "priority": "low",
        "status": "todo",
        "labels": ["orders"],
    },
    {
        "project": "SHOP",
        "key": "SHOP-10",
        "title": "Return an item within 30 days",
        "description": "As a shopper I want to return an item I do not want so that I get my money back.",
        "acceptance_criteria": [
            "A return can be started up to 30 days after delivery",
            "The shopper picks a reason from a list; 'Other' needs a comment of at least 10 characters",
            "Given an accepted return\nWhen the warehouse receives the item\n"
            "Then the refund is issued to the original payment method within 5 working days",
        ],
        "priority": "medium",
        "status": "backlog",
        "labels": ["orders", "returns"],
    },
    # --- Mobile banking ---------------------------------------------------------------------------------------
    {
        "project": "BANK",
        "key": "BANK-1",
        "title": "Log in with a one-time code",
        "description": "As a customer I want to log in with a code sent by SMS so that my account is protected.",
        "acceptance_criteria": [
            "The code has 6 digits and expires after 5 minutes",
            "Given a customer who requested a code\nWhen they enter a wrong code 3 times\n"
            "Then the login is blocked for 15 minutes\nAnd they receive an SMS telling them so",
            "A new code can be requested at most once every 30 seconds",
        ],
        "priority": "highest",
        "status": "done",
        "labels": ["login", "security"],
    },
    {
        "project": "BANK",
        "key": "BANK-2",
        "title": "Unlock the app with a fingerprint or face",
        "description": "As a customer I want to unlock the app with biometrics so that I need not type my PIN.",
        "acceptance_criteria": [
            "Biometric unlock is off until the customer turns it on and confirms with their PIN",
            "After 3 failed biometric attempts the app asks for the PIN",
            "Adding a new fingerprint on the phone turns biometric unlock off",
        ],
        "priority": "high",
        "status": "in_review",
        "labels": ["login", "security"],
    },
    {
        "project": "BANK",
        "key": "BANK-3",
        "title": "See the balance of every account",
        "description": "As a customer I want to see all my balances on one screen so that I know where my money is.",
        "acceptance_criteria": [
            "Balances are refreshed when the screen opens and on pull-to-refresh",
            "Amounts show 2 decimals and the currency code",
            "Given a customer with a blocked account\nWhen they open the accounts screen\n"
            "Then the blocked account is shown greyed out with the reason",
        ],
        "priority": "high",
        "status": "done",
        "labels": ["accounts"],
    },
    {
        "project": "BANK",
        "key": "BANK-4",
        "title": "Transfer money between my own accounts",
        "description": "As a customer I want to move money between my own accounts so that I can cover a payment.",
        "acceptance_criteria": [
            "The amount must be between 0.01 and 10,000.00 EUR",
            "A transfer to the same account is rejected",
            "Given a current account with 100.00 EUR\nWhen the customer moves 40.00 EUR to savings\n"
            "Then the current account shows 60.00 EUR\nAnd savings shows 40.00 EUR more",
            "The new balances are shown right after the transfer",
        ],
        "priority": "highest",
        "status": "in_progress",
        "labels": ["transfers", "payments"],
    },
    {
        "project": "BANK",
        "key": "BANK-5",
        "title": "Send money to a new payee",
        "description": "As a customer I want to pay someone new by IBAN so that I can settle a bill.",
        "acceptance_criteria": [
            "The IBAN is checked (country format and check digits) before the customer can continue",
            "The payee's name is compared with the bank's records and a mismatch is shown as a warning",
            "A first payment to a new payee over 1,000.00 EUR needs a one-time code",
            "The daily limit for payments to others is 5,000.00 EUR",
        ],
        "priority": "highest",
        "status": "todo",
        "labels": ["transfers", "payments", "limits"],
    },
    {
        "project": "BANK",
        "key": "BANK-6",
        "title": "Freeze and unfreeze my card",
        "description": "As a customer I want to freeze my card from the app so that a lost card cannot be used.",
        "acceptance_criteria": [
            "Given an active card\nWhen the customer freezes it\nThen card payments are declined within 1 minute",
            "Direct debits keep working while the card is frozen",
            "Unfreezing needs the customer's PIN or biometrics",
        ],
        "priority": "high",
        "status": "todo",
        "labels": ["cards", "security"],
    },
    {
        "project": "BANK",
        "key": "BANK-7",
        "title": "Search my transactions",
        "description": "As a customer I want to search my transactions so that I find a payment I am not sure about.",
        "acceptance_criteria": [
            "Search covers the last 24 months of transactions",
            "Search matches the payee, the reference and the amount",
            "Results load 30 at a time as the customer scrolls",
            'Given no transaction matches\nWhen the customer searches\nThen the app says "No transactions found"',
        ],
        "priority": "medium",
        "status": "backlog",
        "labels": ["transactions", "search"],
    },
    {
        "project": "BANK",
        "key": "BANK-8",
        "title": "Get a notification for every card payment",
        "description": "As a customer I want a push notification for each card payment so that I spot fraud at once.",
        "acceptance_criteria": [
            "The notification arrives within 10 seconds of the payment",
            "It shows the merchant, the amount and the currency",
            "Notifications can be turned off per card",
        ],
        "priority": "low",
        "status": "backlog",
        "labels": ["cards", "notifications"],
    },
    {
        "project": "BANK",
        "key": "BANK-9",
        "title": "Download a monthly statement as PDF",
        "description": "As a customer I want to download my monthly statement so that I can give it to my accountant.",
        "acceptance_criteria": [
            "Statements are available for the last 7 years",
            "The PDF is generated in under 5 seconds for a month with 1,000 transactions",
            "The file name is <account>-<year>-<month>.pdf",
        ],
        "priority": "lowest",
        "status": "todo",
        "labels": ["statements"],
    },
    # --- Not linked to a project: generation refuses it until a project is chosen -----------------------------
    {
        "project": None,
        "key": "IDEA-1",
        "title": "Dark mode for every screen",
        "description": "As a user who reads at night I want a dark theme so that the screen does not dazzle me.",
        "acceptance_criteria": [
            "The theme follows the operating system setting by default",
            "A manual choice (light, dark, system) is remembered across sessions",
            "Text keeps a contrast ratio of at least 4.5:1 in both themes",
        ],
        "priority": "low",
        "status": "backlog",
        "labels": ["ui", "accessibility"],
    },
]

# Saved test cases for a few stories, so the story pages and exports are not empty on a first visit.
TEST_CASES = {
    "SHOP-5": [
        {
            "title": "Adding items to the cart",
            "objective": "The cart counts items and enforces its limits.",
            "preconditions": "A signed-in shopper with an empty cart.",
            "test_type": "FUNCTIONAL",
            "priority": "high",
            "status": "ready",
            "scenarios": [
                {
                    "name": "Add one product in stock",
                    "tags": ["@smoke"],
                    "steps": 'Given a product "Blue mug" in stock\n'
                    'When the shopper adds "Blue mug" to the cart\n'
                    "Then the cart icon shows 1 item\n"
                    'And the cart total equals the price of "Blue mug"',
                },
                {
                    "name": "The 51st item is refused",
                    "tags": ["@boundary"],
                    "steps": "Given a cart with 50 items\n"
                    "When the shopper adds another item\n"
                    "Then the item is not added\n"
                    'And the shopper sees "Your cart holds at most 50 items"',
                },
                {
                    "name": "Quantity limits",
                    "tags": ["@boundary"],
                    "steps": "Given a product in stock\n"
                    "When the shopper sets the quantity to <quantity>\n"
                    "Then the quantity is <result>\n"
                    "Examples:\n"
                    "| quantity | result   |\n"
                    "| 1        | accepted |\n"
                    "| 10       | accepted |\n"
                    "| 11       | refused  |",
                },
            ],
        },
    ],
    "BANK-1": [
        {
            "title": "One-time code login",
            "objective": "A customer logs in with a valid code and wrong codes are throttled.",
            "preconditions": "A customer with a verified phone number.",
            "test_type": "SECURITY",
            "priority": "highest",
            "status": "ready",
            "scenarios": [
                {
                    "name": "Log in with a valid code",
                    "tags": ["@smoke"],
                    "steps": "Given the customer requested a code\n"
                    "When they enter the code within 5 minutes\n"
                    "Then they see their accounts",
                },
                {
                    "name": "Three wrong codes block the login",
                    "tags": ["@negative"],
                    "steps": "Given the customer requested a code\n"
                    "When they enter a wrong code 3 times\n"
                    "Then the login is blocked for 15 minutes\n"
                    "And they receive an SMS telling them so",
                },
            ],
        },
        {
            "title": "Code expiry",
            "objective": "An expired code is rejected.",
            "preconditions": "",
            "test_type": "FUNCTIONAL",
            "priority": "high",
            "status": "draft",
            "scenarios": [
                {
                    "name": "A code older than 5 minutes is rejected",
                    "tags": ["@boundary"],
                    "steps": "Given the customer requested a code 6 minutes ago\n"
                    "When they enter that code\n"
                    'Then they see "This code has expired"',
                },
            ],
        },
    ],
}


@dataclass
class DemoResult:
    changes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@transaction.atomic
def load_demo() -> DemoResult:
    """Create what is missing of the demo projects, stories, test cases and the demo user; report what changed."""
    result = DemoResult()
    user = _demo_user(result)

    projects = {}
    for data in PROJECTS:
        project, created = Project.objects.get_or_create(key=data["key"], defaults=data)
        projects[project.key] = project
        if created:
            result.changes.append(f"project {project.key}")

    existing = set(UserStory.objects.filter(key__in=[s["key"] for s in STORIES]).values_list("key", flat=True))
    new_stories = 0
    for data in STORIES:
        if data["key"] in existing:
            continue
        story = UserStory(**{**data, "project": projects.get(data["project"])})
        story.full_clean()
        story.save()
        new_stories += 1
        for case in TEST_CASES.get(story.key, []):
            _add_test_case(story, case, user)
            result.changes.append(f"test case “{case['title']}” on {story.key}")
    if new_stories:
        result.changes.append(f"{new_stories} stor{'y' if new_stories == 1 else 'ies'}")
    # The demo user owns the demo projects (it is a superuser too, but the members page should show an owner).
    for project in projects.values():
        if not Membership.objects.filter(project=project).exists():
            permissions.grant(user, project, Role.OWNER)
            result.changes.append(f"{DEMO_USERNAME} owns {project.key}")
    viewer = _viewer_user(result)
    if not Membership.objects.filter(user=viewer).exists():
        permissions.grant(viewer, projects[VIEWER_PROJECT], Role.VIEWER)
        result.changes.append(f"{VIEWER_USERNAME} reads {VIEWER_PROJECT}")
    return result


def _viewer_user(result: DemoResult):
    User = get_user_model()
    viewer = User.objects.filter(username=VIEWER_USERNAME).first()
    if viewer is None:
        viewer = User(username=VIEWER_USERNAME, email="viewer@example.com")
        viewer.set_password(VIEWER_PASSWORD)  # below the validators' bar on purpose, as for demo/demo
        viewer.save()
        result.changes.append(f"user {VIEWER_USERNAME}")
    return viewer


def _demo_user(result: DemoResult):
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = User(username=DEMO_USERNAME, email="demo@example.com")
        result.changes.append(f"user {DEMO_USERNAME}")
    elif user.is_active and user.is_staff and user.is_superuser and user.check_password(DEMO_PASSWORD):
        return user
    else:
        result.changes.append(f"user {DEMO_USERNAME} (password and admin rights reset)")
    user.is_active = user.is_staff = user.is_superuser = True
    user.set_password(DEMO_PASSWORD)  # set directly: "demo" is deliberately below the password validators' bar
    user.save()
    return user


def _add_test_case(story: UserStory, data: dict, author) -> TestCase:
    fields = {k: v for k, v in data.items() if k != "scenarios"}
    test_case = TestCase.objects.create(story=story, author=author, **fields)
    for position, scenario in enumerate(data["scenarios"]):
        Scenario.objects.create(test_case=test_case, position=position, **scenario)  # validated on save
    return test_case
