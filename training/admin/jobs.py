"""The admin's "Cancel" action of every long job (exports, fine-tune runs, comparisons): one service call per
selected row, through the job lifecycle's cancel (ready4hire/jobs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ready4hire.errors import DomainError


def cancel_action(cancel: Callable[[int], Any]) -> Callable:
    """An admin action cancelling each selected job with `cancel(pk)`; finished jobs are reported, not changed.
    Allowed to whoever holds the permission to start such a job (some admins start none themselves, so their
    `has_add_permission` says no to everyone)."""

    @admin.action(description=gettext_lazy("Cancel the selected jobs (pending or running)"))
    def cancel_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset) -> None:
        opts = modeladmin.opts
        if not request.user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}"):
            modeladmin.message_user(request, _("Only who may start these jobs may cancel them."), messages.ERROR)
            return
        cancelled, refused = [], []
        for pk in queryset.values_list("pk", flat=True):
            try:
                cancel(pk)
            except DomainError as exc:
                refused.append(str(exc))
            else:
                cancelled.append(str(pk))
        if cancelled:
            modeladmin.message_user(
                request,
                _("Cancelled %(jobs)s: a running job stops at its next progress report.")
                % {"jobs": "#" + ", #".join(cancelled)},
                messages.SUCCESS,
            )
        for reason in refused:
            modeladmin.message_user(request, reason, messages.WARNING)

    return cancel_jobs
