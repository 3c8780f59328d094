Console.WriteLine("coach-cloud");
return 0;
