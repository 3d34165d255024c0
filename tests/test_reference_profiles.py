"""The reference site profiles stay in step with the plugins: every key, kind and value in them is valid;
what `gatecore check` still reports here are the files and secrets only the site controller has (there,
the face plugin then also checks its models and galleries)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gatecore.plugins import make_manager
from gatecore.profile import ProfileError, load_profile

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
#: what `gatecore check` may say about a reference profile away from its site
SITE_ONLY = re.compile(r"(/etc/gatecore/|/opt/gatecore/|/var/lib/gatecore/)\S* ?(cannot be read|does not exist"
                       r"|cannot read|: \[Errno 2\] No such file)|cannot read (/etc|/opt|/var/lib)/gatecore/")


@pytest.mark.parametrize("name", ["bac_luan_1.toml"])
def test_a_reference_profile_lacks_only_what_the_site_controller_holds(name: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile(PROFILES / name, make_manager())
    issues = err.value.issues
    assert issues, "a reference profile names files only the site has"
    wrong = [str(i) for i in issues if not SITE_ONLY.search(i.message)]
    assert not wrong, "\n".join(wrong)
    assert {re.split(r"[.\[]", i.path)[0] for i in issues} >= {"plugins", "lanes"}  # both parts were read
