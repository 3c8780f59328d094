namespace Coach.Engine.Graph;

/// <summary>A model that Coach cannot read into a layer DAG: the message names the node or value at fault.</summary>
public sealed class ModelGraphException : Exception
{
    public ModelGraphException(string message) : base(message) { }
    public ModelGraphException(string message, Exception inner) : base(message, inner) { }
    public ModelGraphException() { }
}
