"""Write the OpenAPI document without starting a server: `python -m service.openapi > FILE`.

The pages' TypeScript types are generated from it (frontend/openapi.json → `npm run types`
→ frontend/src/api-types.ts; `./dev types` does both).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from dispatch.core.settings import Settings
from service.app import create_app


def openapi_document() -> dict[str, Any]:
    """Return the API's OpenAPI document; nothing connects to a database or Redis."""
    with tempfile.TemporaryDirectory(prefix="sipingtai-openapi-") as tmp:
        # The app connects only when it starts serving, which it never does here.
        settings = Settings(demo=True, data_dir=Path(tmp), frontend_dir=Path(tmp) / "no-pages")
        return create_app(settings).openapi()


def render() -> str:
    """Return the document as the committed frontend/openapi.json spells it."""
    return json.dumps(openapi_document(), ensure_ascii=False, indent=2) + "\n"


def main() -> None:
    """Print the document to stdout."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
