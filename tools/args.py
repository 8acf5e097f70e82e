"""Typed arguments of the ten tools. Their JSON Schemas are what the model sees as `tools=`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tools.relpath import workspace_path

# A path relative to the workspace root; absolute and escaping paths are refused at parsing.
WorkspacePath = Annotated[str, AfterValidator(workspace_path)]


class ToolArgs(BaseModel):
    # Models invent extra keys; refusing them tells the model exactly what it got wrong.
    model_config = ConfigDict(extra="forbid")


class ReadFileArgs(ToolArgs):
    """Read a text file of the workspace, optionally only some lines."""

    path: WorkspacePath = Field(min_length=1, description="Path relative to the workspace root.")
    encoding: str = "utf-8"
    start_line: int | None = Field(None, ge=1, description="First line to return (1-based).")
    end_line: int | None = Field(None, ge=1, description="Last line to return (inclusive).")


class WriteFileArgs(ToolArgs):
    """Create or overwrite a file with the given content."""

    path: WorkspacePath = Field(min_length=1)
    content: str
    create_dirs: bool = Field(False, description="Create missing parent directories.")
    backup: bool = Field(False, description="Keep the old content as <path>.bak.")


class ListFilesArgs(ToolArgs):
    """List the files of a directory."""

    path: WorkspacePath = "."
    recursive: bool = False
    include_hidden: bool = False
    pattern: str | None = Field(None, description="Glob on file names, e.g. *.py.")


class CreateDirectoryArgs(ToolArgs):
    """Create a directory."""

    path: WorkspacePath = Field(min_length=1)
    recursive: bool = True


class ExecuteCommandArgs(ToolArgs):
    """Run a command (no shell) in the workspace and return its output."""

    command: str = Field(min_length=1)
    cwd: WorkspacePath | None = Field(None, description="Directory relative to the workspace root.")
    timeout: int = Field(60, ge=1, le=300, description="Seconds before the command is killed.")


class SearchInCodeArgs(ToolArgs):
    """Search the workspace's files for text or a regular expression."""

    query: str = Field(min_length=1)
    path: WorkspacePath = "."
    file_pattern: str | None = Field(None, description="Glob on file names, e.g. *.py.")
    case_sensitive: bool = False
    regex: bool = False
    max_results: int = Field(100, ge=1, le=1000)


class SwitchModeArgs(ToolArgs):
    """Hand the conversation to another agent."""

    mode: str = Field(description="orchestrator, coder, architect, debug or ask.")
    reason: str


class AttemptCompletionArgs(ToolArgs):
    """Finish the task and give the user the result."""

    result: str


class AskFollowupQuestionArgs(ToolArgs):
    """Ask the user a question and wait for the answer."""

    question: str
    options: list[str] | None = None


class PlanStep(ToolArgs):
    title: str = Field(min_length=1, max_length=200)
    agent: Literal["coder", "architect", "debug", "ask"] = Field(
        description="The specialist that does this step."
    )
    description: str = Field(min_length=1, max_length=4000, description="What to do, precisely.")


class ProposePlanArgs(ToolArgs):
    """For a large request: propose steps, each for one specialist; the user approves, edits or
    rejects the plan, then the steps run in order and their results come back to you."""

    title: str = Field(min_length=1, max_length=200)
    steps: list[PlanStep] = Field(min_length=1, max_length=12)
