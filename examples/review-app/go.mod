module example.com/review-app

go 1.26
