"""Meetings (产销对接会, 企业家座谈会, 供应链洽谈会 …), the 成渝 partner catalogue, the calendar and its feed."""
