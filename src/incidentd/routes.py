"""Every controller the app serves. A domain adds its controller here."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from incidentd.customization.routes import CustomStageController, CustomStateController
from incidentd.identity.routes import AuthTokenController, DevUserController

CONTROLLERS: list[ControllerRouterHandler] = [
    DevUserController,
    AuthTokenController,
    CustomStageController,
    CustomStateController,
]
