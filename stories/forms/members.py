"""Who may work on a project: adding a member or changing a member's role."""

from __future__ import annotations

from django import forms

from stories.models import Role


class MemberForm(forms.Form):
    """Add a member to a project, or change a member's role (the members page)."""

    username = forms.CharField(max_length=150, label="User")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_username(self):
        from django.contrib.auth import get_user_model

        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"There is no active user {username!r}.")
        self.cleaned_data["user"] = user
        return username
