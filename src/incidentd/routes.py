"""Every controller the app serves. A domain adds its controller here."""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

from incidentd.accounts.routes import AccountController
from incidentd.articles.routes import ArticleController
from incidentd.artifacts.routes import ArtifactController
from incidentd.customization.routes import CustomStageController, CustomStateController
from incidentd.identity.routes import AuthTokenController, DevUserController
from incidentd.incidents.routes import IncidentController
from incidentd.parts.routes import PartController
from incidentd.tags.routes import TagController

CONTROLLERS: list[ControllerRouterHandler] = [
    DevUserController,
    AuthTokenController,
    CustomStageController,
    CustomStateController,
    IncidentController,
    TagController,
    AccountController,
    PartController,
    ArtifactController,
    ArticleController,
]
