"""What agents see of visitors' phones (web/console/privacy.py)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "text, masked",
    [
        ("电话13812345678谢谢", "电话138****5678谢谢"),
        ("+86 138 1234 5678", "138****5678"),
        ("8613812345678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("座机010-12345678", "座机010****5678"),
        ("0755 1234567", "075****4567"),
        ("注册资本1000万元，2026-11-29前", "注册资本1000万元，2026-11-29前"),
        ("订单123456789012345", "订单123456789012345"),
    ],
)
def test_f12_phone_like_strings_are_masked_in_transcripts(text, masked):
    """F12: mobiles (with +86, spaces, dashes, full-width digits) and landlines are masked; dates and amounts stay."""
    from web.console.privacy import mask_phones

    assert mask_phones(text) == masked
