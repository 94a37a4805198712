"""Make the README's screenshot from the browser test's full-page screenshot of chapter 1.

    python -m pytest tests/test_browser.py && python tools/readme_screenshot.py
"""

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "_build" / "screenshots" / "notebooks_01_one_cycle.png"
TARGET = ROOT / "docs" / "chapter1.png"


def main(height=2400, scale=0.5):
    if not SOURCE.exists():
        raise SystemExit(f"{SOURCE} is missing: run `python -m pytest tests/test_browser.py` first")
    image = Image.open(SOURCE)
    top = image.crop((0, 0, image.width, min(height, image.height)))
    small = top.resize((int(top.width * scale), int(top.height * scale)), Image.LANCZOS)
    small = small.convert("P", palette=Image.ADAPTIVE, colors=128)  # keeps the committed PNG small
    TARGET.parent.mkdir(exist_ok=True)
    small.save(TARGET, optimize=True)
    print(f"wrote {TARGET} ({TARGET.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
