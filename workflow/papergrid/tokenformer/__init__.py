"""TokenFormer against a plain MLP: parameter attention, growth by appending tokens."""
