"""The show log: record everything a show did, read it back, replay it exactly."""

from stage.engine.showlog.link import LoggedLink, ReplayLink
from stage.engine.showlog.log import ShowLog, SongLog, file_hash
from stage.engine.showlog.read import ShowLogData, ShowLogError, read_log

__all__ = ["LoggedLink", "ReplayLink", "ShowLog", "ShowLogData", "ShowLogError", "SongLog",
           "file_hash", "read_log"]
