"""`manage.py create_reviewer USERNAME [--email E] [--adjudicator] [--password-stdin]`: a reviewer's account."""

import sys

from django.core.management.base import BaseCommand, CommandError

from ready4hire.errors import DomainError
from training.services.reviewers import reviewer_create


class Command(BaseCommand):
    help = (
        "Create a staff user in the Reviewers group, who may review training examples in the admin. "
        "Without --password-stdin a password is generated and printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--adjudicator", action="store_true", help="May also decide examples whose reviews disagree."
        )
        parser.add_argument(
            "--password-stdin", action="store_true", help="Read the password from the first line of stdin."
        )

    def handle(self, *args, username: str, email: str, adjudicator: bool, password_stdin: bool, **options):
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: stdin gave no password.")
        try:
            user, generated = reviewer_create(
                username=username, email=email, password=password, adjudicator=adjudicator
            )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        role = "reviewer and adjudicator" if adjudicator else "reviewer"
        self.stdout.write(f"Created {role} {user.get_username()!r} (staff, in the Reviewers group).")
        if generated:
            self.stdout.write("Password (shown once, store it now):")
            self.stdout.write(generated)
