"""The services' known third-party chatter is silenced by name; anything else still shows."""

from __future__ import annotations

import logging
import warnings

from bot import quiet


def test_known_deprecations_are_silenced_and_new_warnings_still_show():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet.install()
        warnings.warn("pkg_resources is deprecated as an API. See …", DeprecationWarning, stacklevel=1)
        warnings.warn("Slot auto-fill has been removed in 3.0 and replaced with …", UserWarning, stacklevel=1)
        warnings.warn("our own code is deprecated", DeprecationWarning, stacklevel=1)
        # Sanic (imported by Rasa and the action server) puts "once" in front of every filter: still silent
        warnings.filterwarnings("once", category=DeprecationWarning)
        warnings.warn(
            "distutils Version classes are deprecated. Use packaging.version instead.", DeprecationWarning, stacklevel=1
        )
        warnings.warn("'setParseAction' deprecated - use 'set_parse_action'", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["our own code is deprecated"]


def test_rasa_sdk_form_chatter_is_dropped_and_its_real_warnings_kept(caplog):
    quiet.install()
    quiet.install()  # idempotent: one filter
    forms = logging.getLogger("rasa_sdk.forms")
    assert len(forms.filters) == 1
    with caplog.at_level(logging.WARNING, logger="rasa_sdk.forms"):
        forms.warning("Skipping validation for `lead_name`: there is no validation method specified.")
        forms.warning("Cannot validate `lead_phone`: make sure the validation method returns the correct output.")
    assert [r.getMessage()[:21] for r in caplog.records] == ["Cannot validate `lead"]


def test_the_same_list_reaches_child_processes():
    value = quiet.pythonwarnings()
    assert value.count("ignore:") == len(quiet.KNOWN_WARNINGS)
    assert not [m for m, _ in quiet.KNOWN_WARNINGS if "," in m or ":" in m]  # they would split the value
