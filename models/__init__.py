"""The model manifest and sample-media manifest, and the code that fetches and verifies their files."""

from models.artifacts import ArtifactError
from models.media import MediaError, fetch_media, media_path
from models.registry import Manifest, ModelEntry, ModelError, fetch_model, load_manifest, model_path

__all__ = [
    "ArtifactError",
    "Manifest",
    "MediaError",
    "ModelEntry",
    "ModelError",
    "fetch_media",
    "fetch_model",
    "load_manifest",
    "media_path",
    "model_path",
]
