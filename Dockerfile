# Image for the web and worker services of docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DJANGO_STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY . .
RUN DATABASE_URL=postgres://unused/unused DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput
EXPOSE 8000
ENV GUNICORN_BIND=0.0.0.0:8000
CMD ["gunicorn", "-c", "shopsite/gunicorn.conf.py", "shopsite.wsgi"]
