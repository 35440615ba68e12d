"""The panel's forms (Flask-WTF: every one carries a CSRF token). Labels are translated in the templates."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, Regexp

from models.registry import OPERATING_POINTS
from service.panel.accounts import MIN_PASSWORD, ROLES


class LoginForm(FlaskForm):  # type: ignore[misc]
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=200)])
    code = StringField(validators=[Optional(), Regexp(r"^\s*\d{3}\s?\d{3}\s*$")])


class PasswordForm(FlaskForm):  # type: ignore[misc]
    current = PasswordField(validators=[DataRequired(), Length(max=200)])
    new = PasswordField(validators=[DataRequired(), Length(min=MIN_PASSWORD, max=200)])
    confirm = PasswordField(validators=[DataRequired(), EqualTo("new", message="The two new passwords differ.")])


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something: only the CSRF token."""


class ReasonForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(validators=[DataRequired(), Length(min=5, max=200)])


class EnrolmentForm(FlaskForm):  # type: ignore[misc]
    name = StringField(validators=[DataRequired(), Length(max=100)])


class StaffForm(FlaskForm):  # type: ignore[misc]
    username = StringField(validators=[DataRequired(), Regexp(r"^[a-z0-9][a-z0-9._-]{1,63}$")])
    display_name = StringField(validators=[DataRequired(), Length(max=120)])
    role = SelectField(choices=list(ROLES), validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired(), Length(min=MIN_PASSWORD, max=200)])
    totp = BooleanField(default=False)


class GeneralForm(FlaskForm):  # type: ignore[misc]
    name = StringField(validators=[DataRequired(), Length(max=120)])
    timezone = StringField(validators=[DataRequired(), Length(max=64)])
    accent_colour = StringField(validators=[DataRequired(), Regexp(r"^#[0-9a-fA-F]{6}$", message="Use #rrggbb.")])
    logo = FileField()
    remove_logo = BooleanField()


class RetentionForm(FlaskForm):  # type: ignore[misc]
    checkout_grace_h = IntegerField(validators=[InputRequired(), NumberRange(0, 24 * 30)])
    no_show_grace_h = IntegerField(validators=[InputRequired(), NumberRange(0, 24 * 30)])
    abandoned_session_min = IntegerField(validators=[InputRequired(), NumberRange(5, 24 * 60)])


class LivenessForm(FlaskForm):  # type: ignore[misc]
    require_passive = BooleanField()
    passive_min_score = StringField(validators=[InputRequired(), Regexp(r"^(0(\.\d+)?|1(\.0+)?)$")])
    require_challenge = BooleanField()
    weight_none = IntegerField(validators=[InputRequired(), NumberRange(0, 100)])
    weight_blink = IntegerField(validators=[InputRequired(), NumberRange(0, 100)])
    weight_turn_left = IntegerField(validators=[InputRequired(), NumberRange(0, 100)])
    weight_turn_right = IntegerField(validators=[InputRequired(), NumberRange(0, 100)])


class MatchingForm(FlaskForm):  # type: ignore[misc]
    target_fmr = RadioField(choices=[f"{p:g}" for p in OPERATING_POINTS], validators=[InputRequired()])


class ConsentForm(FlaskForm):  # type: ignore[misc]
    text_en = TextAreaField(validators=[DataRequired(), Length(max=4000)])
    text_zh = TextAreaField(validators=[DataRequired(), Length(max=4000)])


class AuditForm(FlaskForm):  # type: ignore[misc]
    class Meta:
        csrf = False  # a GET search form

    stay = StringField(validators=[Optional(), Length(max=64)])
    actor = StringField(validators=[Optional(), Length(max=120)])
    action = StringField(validators=[Optional(), Length(max=64)])
    since = DateField(validators=[Optional()])
    until = DateField(validators=[Optional()])


class WebhookForm(FlaskForm):  # type: ignore[misc]
    url = StringField(validators=[DataRequired(), Length(max=500), Regexp(r"^https?://\S+$")])
