"""The kiosk's settings (``LETHE_KIOSK_*`` environment variables), with their bounds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config import describe, load_settings

PREFIX = "LETHE_KIOSK_"


def default_key_file() -> Path:
    return Path.home() / ".config" / "lethe" / "kiosk.json"


class KioskSettings(BaseModel):
    """Every setting of the kiosk. Frozen once loaded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_url: str = Field(default="http://127.0.0.1:8080", description="base URL of the verification service")
    key_file: Path = Field(default_factory=default_key_file, description="the kiosk's identity (0600)")
    ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the service's HTTPS certificate (the property's own CA); "
        "empty: the system's trusted CAs",
    )
    backend: Literal["dlib", "onnx"] = Field(default="dlib", description="face detection and embedding backend")
    onnx_embedder: Literal["dlib-resnet-v1", "mobilefacenet-112"] = Field(
        default="dlib-resnet-v1",
        description="embedder of the onnx backend: dlib's ResNet converted to ONNX, or mobilefacenet-112 "
        "(a test stand-in without a licence)",
    )
    landmarks: Literal["mediapipe-face-mesh", "dlib-68"] = Field(
        default="mediapipe-face-mesh",
        description="landmarks for pose, open eyes and the challenge: MediaPipe's face mesh (Apache-2.0), or "
        "dlib's 68 points (for comparison only: their licence excludes commercial use)",
    )
    onnx_threads: int = Field(default=1, ge=1, le=64, description="onnxruntime and OpenCV threads (onnx backend)")
    suite: Literal["mlkem768-x25519", "x25519"] = Field(default="mlkem768-x25519", description="HPKE KEM")
    detect_width: int | None = Field(
        default=None,
        ge=160,
        le=1920,
        description="frames wider than this are downscaled for detection (px) [default: the backend's, "
        "640 for dlib's HOG, 320 for YuNet]",
    )
    detect_upsample: int = Field(default=0, ge=0, le=2, description="HOG upsampling of the detection frame")
    min_face_px: int = Field(
        default=60, ge=20, le=2000, description="smallest accepted face width in the full frame (px)"
    )
    min_sharpness: float = Field(
        default=15.0, ge=0.0, le=10000.0, description="least variance of the Laplacian of the face"
    )
    min_inter_eye_px: float = Field(
        default=20.0, ge=0.0, le=1000.0, description="least distance between the eye centres in the full frame (px)"
    )
    max_pose_deg: float = Field(
        default=30.0, gt=0.0, le=90.0, description="largest head yaw or pitch accepted for templating (degrees)"
    )
    passive_liveness: bool = Field(
        default=True, description="score each good frame with the passive liveness models (MiniFASNet)"
    )
    candidates: int = Field(default=10, ge=1, le=100, description="good frames gathered before choosing")
    frames_to_fuse: int | None = Field(
        default=None,
        ge=1,
        le=20,
        description="best frames whose embeddings are averaged [default: the backend's, 3 for dlib, 5 for onnx]",
    )
    max_seconds: float = Field(
        default=20.0, gt=0, le=300, description="give up when no usable face after this long (s)"
    )
    id_jitters: int = Field(
        default=3,
        ge=1,
        le=20,
        description="random re-samplings of the ID portrait averaged (dlib: of its chip and its mirror, "
        "2x this many ResNet passes; onnx: 2 or more adds the mirror)",
    )
    http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="the kiosk's log level (stderr: the journal under systemd)"
    )
    retry_initial_s: float = Field(
        default=2.0, gt=0, le=600, description="guest screen: first wait before retrying a kiosk that cannot work (s)"
    )
    retry_max_s: float = Field(
        default=60.0, gt=0, le=3600, description="guest screen: longest wait between retries, doubling up to it (s)"
    )
    unreachable_grace_s: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="guest screen: an unreachable service shows 'one moment' this long, then 'out of order' (s)",
    )
    status_interval_s: float = Field(
        default=60.0, ge=5, le=3600, description="guest screen: how often an idle kiosk reports that it is ready (s)"
    )

    @field_validator("ca_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> KioskSettings:
        return load_settings(cls, prefix=PREFIX, environ=environ, overrides=overrides)

    def describe(self) -> str:
        return describe(self, prefix=PREFIX)
