"""The enterprise registry (一企一档): profile, contacts, yearly figures, 成渝 partner links, search."""
