"""Agents: the agent protocol, built-in roles, prompts, chat-model providers and test models."""

from gwa.agents.agent import Agent, AgentContext, CallRecord, LLMAgent
from gwa.agents.models import ChatModel, ChatRequest, ChatResponse
from gwa.agents.roles import BUILTIN_ROLES, OUTPUTS, Role, parse_output, request_schema

__all__ = [
    "BUILTIN_ROLES",
    "OUTPUTS",
    "Agent",
    "AgentContext",
    "CallRecord",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "LLMAgent",
    "Role",
    "parse_output",
    "request_schema",
]
