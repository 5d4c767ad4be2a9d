_instruments = ("langgraph >= 0.3", "langchain-core >= 0.3")
